"""The benchmark's arithmetic: freshness latencies from Trino polls, percentiles, target verdicts,
and the fuzz strategies the fault suite draws malformed events from."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from kappa.bench.freshness import latencies, percentile
from kappa.bench.report import verdict
from kappa.errors import KappaError
from lakehouse.contracts import contract, quarantine_reason
from tests.fuzz_events import FIELDS, Mutation, mutations


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0], 95) == 3.0


def test_each_event_is_visible_at_the_first_poll_that_counts_it() -> None:
    produced_at = [0.0, 1.0, 2.0, 3.0, 4.0]
    polls = [(0.5, 0), (2.5, 2), (3.1, 2), (6.0, 5)]
    assert latencies(produced_at, polls) == [2.5, 1.5, 4.0, 3.0, 2.0]


def test_a_count_that_goes_past_what_was_produced_is_clipped() -> None:
    assert latencies([0.0, 1.0], [(2.0, 5)]) == [2.0, 1.0]


def test_verdicts_know_which_ratios_must_stay_low() -> None:
    assert verdict("freshness_p95_over_interval_5s", 1.2) == ("<= 1.5", "met")
    assert verdict("freshness_p95_over_interval_1s", 2.0) == ("<= 1.5", "missed by 0.50")
    assert verdict("replay_vs_live_rate", 4.0) == (">= 10.0", "missed by 6.00")
    assert verdict("q8_vs_q0", 0.95) == (">= 0.94", "met")
    assert verdict("something_else", 1.0) == ("", "")


TEMPLATE = {"transaction_id": "p-bad-1", "user_id": "p-bad-1", "amount": 12.5, "merchant": "m",
            "timestamp": 1_790_000_000_000}


@settings(max_examples=400, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(m=mutations)
def test_every_mutation_is_bytes_the_contract_can_judge(m: Mutation) -> None:
    payload = m.apply(TEMPLATE, 65536)
    assert isinstance(payload, bytes)
    reason = quarantine_reason(payload, contract("transactions"), 65536)
    if m.kind in ("bytes", "not_an_object", "truncate") and reason is None:
        # only a payload that happens to be a complete, valid object may pass
        assert isinstance(json.loads(payload), dict)
    if m.kind == "oversized":
        assert reason == "oversized payload (> 65536 characters)"
    if m.kind == "drop" and m.field in ("user_id", "amount", "timestamp"):
        assert reason == f"missing {m.field}"
    if m.kind == "iso_time" or (m.kind == "drop" and m.field == "transaction_id"):
        assert reason is None, "the id is derived when absent; an ISO-8601 time of the same instant is valid"
    if m.kind == "extra_field":
        assert m.field not in FIELDS and reason is None, "an unknown field changes nothing"


def test_flame_graph_self_time_by_frame_and_component() -> None:
    from kappa.bench.profile import summarise

    tree = {"name": "root", "value": 10, "children": [
        {"name": "org.apache.flink.streaming.runtime.tasks.StreamTask.invoke", "value": 10, "children": [
            {"name": "com.fasterxml.jackson.core.JsonParser.nextToken", "value": 6, "children": []},
            {"name": "org.apache.parquet.column.ColumnWriter.write", "value": 3, "children": [
                {"name": "java.util.Arrays.copyOf", "value": 1, "children": []}]},
        ]},
    ]}
    got = summarise(tree)
    assert got["samples"] == 10
    # self time: jackson 6, parquet 3 - 1 = 2, Arrays 1, StreamTask 10 - 9 = 1
    assert got["components"] == {"JSON parsing": 0.6, "Parquet/Iceberg writing": 0.2, "Flink records and state": 0.1,
                                 "JDK": 0.1}
    assert got["top_frames"][0] == ("com.fasterxml.jackson.core.JsonParser.nextToken", 0.6)


def test_an_offset_is_visible_once_its_partitions_visible_maximum_reaches_it() -> None:
    from kappa.bench.live import visibility_latencies

    rows = [(0, 0, 10.0), (0, 1, 10.5), (1, 0, 10.2), (1, 1, 11.0), (1, 2, 11.5)]  # partition, offset, produced
    polls = [(10.8, {0: 0}), (12.0, {0: 1, 1: 1}), (13.0, {0: 1, 1: 1})]  # partition 1's offset 2 never seen
    assert sorted(visibility_latencies(rows, polls)) == pytest.approx([0.8, 1.0, 1.5, 1.8])


def test_pipeline_ratios_are_taken_round_by_round_and_reported_as_medians() -> None:
    from kappa.bench.pipelines import summarise_runs

    q0 = [{"events_per_s": 100.0, "cpu_s_per_million_events": 5.0},
          {"events_per_s": 200.0, "cpu_s_per_million_events": 5.0},
          {"events_per_s": 150.0, "cpu_s_per_million_events": 10.0}]
    runs = [{"events_per_s": 50.0, "cpu_s_per_million_events": 10.0, "profile": None},
            {"events_per_s": 90.0, "cpu_s_per_million_events": 10.0, "profile": {"samples": 3}},
            {"events_per_s": 60.0, "cpu_s_per_million_events": 20.0}]
    got = summarise_runs(runs, q0)
    # each round's ratio over its own q0 run: 0.5, 0.45, 0.4; a slow machine in round 1 does not skew it
    assert got["vs_q0"] == 0.45 and got["vs_q0_range"] == [0.4, 0.5]
    assert got["events_per_s"] == 60.0 and got["cpu_vs_q0"] == 2.0
    assert got["profile"] == {"samples": 3} and len(got["runs"]) == 3


def test_flame_graphs_of_every_vertex_merge_by_frame() -> None:
    from collections import Counter

    from kappa.bench.profile import self_time, summarise_frames

    source = {"name": "root", "value": 4, "children": [{"name": "io.kappa.contract.EventParser.parse", "value": 4}]}
    window = {"name": "root", "value": 2, "children": [{"name": "org.apache.flink.cep.nfa.NFA.process", "value": 2}]}
    got = summarise_frames(Counter(self_time(source)) + Counter(self_time(window)))
    assert got["components"] == {"kappa-contract format": round(4 / 6, 3), "CEP (MATCH_RECOGNIZE)": round(2 / 6, 3)}


def test_an_avro_pipeline_is_reported_next_to_the_same_records_as_json() -> None:
    from types import SimpleNamespace

    from kappa.bench.report import pipelines_section

    job = {"events_per_s": 30_000.0, "vs_q0": 0.4, "vs_q0_range": [0.38, 0.42], "cpu_s_per_million_events": 50.0,
           "cpu_vs_q0": 1.6}
    twin = {"events_per_s": 40_000.0, "vs_q0": 0.53, "cpu_s_per_million_events": 41.0, "avro_over_json": 0.75}
    result = SimpleNamespace(pipelines={
        "events": 1_000_000, "repeats": 2, "replay": {},
        "q0_iceberg": {"events_per_s": 75_000.0, "cpu_s_per_million_events": 31.0},
        "jobs": {"transactions": job, "user_events_avro": {**job, "as_json": twin}}})
    lines = pipelines_section(result)
    rows = [line for line in lines if line.startswith("| user_events_avro | 30,000 | 0.40 | 50.0 | 40,000")]
    assert rows == ["| user_events_avro | 30,000 | 0.40 | 50.0 | 40,000 | 0.53 | 41.0 | 0.75x |"]
    assert not [line for line in lines if line.startswith("| transactions | 30,000 | 0.40 | 50.0 |")]


def test_a_scaling_run_is_reported_as_the_ratio_of_its_two_rates() -> None:
    from types import SimpleNamespace

    from kappa.bench.report import scaling_section

    result = SimpleNamespace(scaling={"events": 1_000_000, "parallelism": [1, 2], "taskmanagers": 2,
                                      "slots_per_taskmanager": 12,
                                      "jobs": {"transactions": {"events_per_s": [9_000, 12_600], "ratio": 1.4,
                                                                "cpu_s_per_million_events": [35.2, 49.8]}}})
    lines = scaling_section(result)
    assert "| transactions | 9,000 | 12,600 | 1.40x | 35 | 50 |" in lines
    assert any("at parallelism 1, then 2, one after the other in this run; 2 TaskManagers of 12 slots" in line
               for line in lines)
    assert scaling_section(SimpleNamespace(scaling={})) == []


def test_a_live_bench_run_is_cancelled_once_its_backlog_is_accounted_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from kappa.bench import bench_jobs

    seen = iter([100, 600, 1000])
    states, cancelled = iter(["RUNNING", "RUNNING", "FAILED"]), []
    rest = SimpleNamespace(job=lambda _id: {"state": next(states)}, cancel=cancelled.append, restarts=lambda _id: 0)
    monkeypatch.setattr(bench_jobs, "flink_pids", lambda _ctx: [])
    monkeypatch.setattr(bench_jobs, "submit", lambda *_a, **_k: "j1")
    monkeypatch.setattr(bench_jobs, "FlinkRest", lambda _ctx: rest)
    monkeypatch.setattr(bench_jobs, "accounted", lambda *_a: (next(seen), 0.0, 1.0))
    monkeypatch.setattr(bench_jobs, "end_offsets", lambda *_a: {0: (0, 10), 1: (0, 0)})
    monkeypatch.setattr(bench_jobs, "read_to", lambda *_a: True)
    ctx = SimpleNamespace(settings=SimpleNamespace(flink_ui_url="http://ui"), kafka=lambda: None)
    done = bench_jobs.run_until_accounted(ctx, None, {}, {}, "t", 1000, poll_s=0)  # type: ignore[arg-type]
    assert done["job_id"] == "j1" and cancelled == ["j1"]
    seen = iter([100, 200, 300])  # the failure reports what had landed when it was seen
    with pytest.raises(KappaError, match="ended FAILED with 200 of 1,000 records accounted for"):
        bench_jobs.run_until_accounted(ctx, None, {}, {}, "t", 1000, poll_s=0)  # type: ignore[arg-type]
    assert cancelled == ["j1", "j1"]  # cancelled either way
    seen, states, rest.restarts = iter([100, 200]), iter(["RUNNING", "RUNNING"]), lambda _id: 1
    with pytest.raises(KappaError, match="restarted with 200 of 1,000 records accounted for"):
        bench_jobs.run_until_accounted(ctx, None, {}, {}, "t", 1000, poll_s=0)  # type: ignore[arg-type]
    assert cancelled == ["j1", "j1", "j1"]
    # before the source has read to the end Trino is not asked, but a failure still says what landed
    monkeypatch.setattr(bench_jobs, "read_to", lambda *_a: False)
    seen, states = iter([700]), iter(["RUNNING"])
    with pytest.raises(KappaError, match="restarted with 700 of 1,000 records accounted for"):
        bench_jobs.run_until_accounted(ctx, None, {}, {}, "t", 1000, poll_s=0)  # type: ignore[arg-type]
    assert cancelled == ["j1", "j1", "j1", "j1"]


def test_trino_is_asked_only_once_the_source_has_read_every_partition_to_its_end() -> None:
    from types import SimpleNamespace

    from kappa.bench.bench_jobs import read_to

    def rest(position: dict[int, int]) -> Any:
        return SimpleNamespace(source_offsets=lambda _job, _topic: position)

    ends = {0: 10, 1: 5, 2: 0}  # partition 2 is empty: nothing to read
    assert read_to(rest({0: 10, 1: 5}), "j", "t", ends)
    assert not read_to(rest({0: 10, 1: 4}), "j", "t", ends)
    assert not read_to(rest({0: 10}), "j", "t", ends)  # a partition not reported yet
