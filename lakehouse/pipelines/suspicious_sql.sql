-- The source document's ksqlDB example (section "ksqlDB"), in Flink SQL:
--
--   CREATE TABLE suspicious_activity AS
--   SELECT user_id, COUNT(*), SUM(amount), WINDOWSTART FROM transactions
--   WINDOW TUMBLING (SIZE 5 MINUTES) GROUP BY user_id
--   HAVING COUNT(*) > 10 OR SUM(amount) > 5000;
--
-- `transactions` is the topic's events that its contract accepted and the watermark had not passed
-- (the others went to quarantine and late_events): the contract's fields, `event_time` and the
-- Kafka coordinates. ${...} are this pipeline's settings (suspicious_sql.toml, [jobs.suspicious_sql]).
CREATE VIEW suspicious_activity AS
SELECT window_start, window_end, user_id,
       COUNT(*) AS transaction_count,
       CAST(SUM(amount) AS DECIMAL(18, 2)) AS total_amount
FROM TABLE(TUMBLE(TABLE transactions, DESCRIPTOR(event_time), INTERVAL '${window_min}' MINUTE))
GROUP BY window_start, window_end, user_id
HAVING COUNT(*) > ${count_above} OR SUM(amount) > ${total_above};
