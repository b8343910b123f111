-- Two topics joined: each purchase made within ${within_min} minutes after a login of the same user.
--
-- `transactions` and `user_events` are each topic's events that its contract accepted and the
-- watermark had not passed (the others went to quarantine and late_events): the contract's fields,
-- `event_time` and the Kafka coordinates. An interval join on event time: Flink keeps each side's
-- events only as long as the other side's watermark says a match can still come.
CREATE VIEW purchases_after_login AS
SELECT t.transaction_id, t.user_id, t.amount, t.merchant, u.event_id AS login_id,
       t.event_time AS purchased_at, u.event_time AS logged_in_at
FROM transactions AS t
JOIN user_events AS u
  ON t.user_id = u.user_id AND u.action IN ('login', 'login_success')
 AND t.event_time BETWEEN u.event_time AND u.event_time + INTERVAL '${within_min}' MINUTE;
