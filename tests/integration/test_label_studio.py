"""The human-in-the-loop round trip against a REAL Label Studio (its own venv, started on
127.0.0.1 by ``tests/servers.py``): the demo calls are queued as tasks of the three
projects (redacted text and audio only), two simulated annotators label them through
the API (with a disagreement), the ``completed_annotations`` sensor pulls the work into
``bronze/annotations``, and agreement, weights and the built dataset are checked."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from pipeline.demo import stage_samples
from pipeline.domain.core.keys import CallKeys, dataset_prefix
from pipeline.domain.core.ledger import Ledger
from pipeline.domain.core.models import Transcript
from pipeline.domain.core.storage import LocalObjectStore
from pipeline.domain.learning import labelling as lab
from pipeline.domain.learning.label_studio import LabelStudioClient, LabelStudioError
from resources.label_studio import LabelStudioResource
from resources.landing import LandingZoneResource
from tests.servers import label_studio_server

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
PLANTED = "4111 1111 1111 1111"
#: the intents samples/labels.jsonl gives the demo calls (what a careful annotator says)
TRUTH = {"call_0001": "card_lost", "call_0002": "card_lost", "call_0003": "billing_dispute",
         "call_0004": "billing_dispute", "call_0005": "update_address", "call_0006": "billing_dispute",
         "call_0009": "update_address"}


@pytest.fixture(scope="module")
def ls():
    with label_studio_server() as (url, token):
        yield url, token


@pytest.fixture(scope="module")
def loop(ls, tmp_path_factory):
    from pipeline.definitions import defs as load_defs
    from pipeline.settings import get_settings

    url, token = ls
    home = tmp_path_factory.mktemp("callforge-ls")
    mp = pytest.MonkeyPatch()
    mp.setenv("CALLFORGE_HOME", str(home))
    # a handful of calls: send every one to people (production sends 5-10 %)
    cfg = (REPO / "callforge.yaml").read_text()
    assert "  people_share: 0.08" in cfg
    (home / "callforge.yaml").write_text(cfg.replace("  people_share: 0.08", "  people_share: 1.0"))
    mp.setenv("CALLFORGE_SETTINGS", str(home / "callforge.yaml"))
    mp.setenv("LABEL_STUDIO_URL", url)
    mp.setenv("LABEL_STUDIO_API_KEY", token)
    get_settings.cache_clear()
    settings = get_settings()
    stage_samples(REPO / "samples", settings.landing_dir, set())
    # the landing-zone label file would label every call already: this test labels in Label Studio
    for f in (settings.landing_dir / "annotations").glob("*.jsonl"):
        f.unlink()
    defs = load_defs()
    instance = dg.DagsterInstance.ephemeral()
    for date in ("2026-11-02", "2026-11-03"):
        assert defs.resolve_job_def("ingest_job").execute_in_process(partition_key=date, instance=instance).success
    store, ledger = LocalObjectStore(settings.object_store_root), Ledger(settings.ledger_url)
    # plant a card number in one redacted transcript: the queue must hold that task back
    planted = next(c for c in ledger.calls() if c["state"] == "active" and c.get("consent_training"))
    keys = CallKeys(planted["call_date"], planted["tenant"], planted["call_id"])
    doc = store.get_json(keys.redacted_transcript)
    doc["segments"][0]["text"] += f" my card is {PLANTED}"
    store.put_json(keys.redacted_transcript, doc)
    result = defs.resolve_job_def("training_job").execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey(["gold", "annotation_queue"])])
    assert result.success
    yield {"defs": defs, "instance": instance, "settings": settings, "store": store, "ledger": ledger,
           "client": LabelStudioClient(url, token), "queue": result, "planted_call": planted["call_id"],
           "url": url, "token": token,
           "sensor_resources": {"landing": LandingZoneResource(root=str(settings.landing_dir)),
                                "annotation": LabelStudioResource(url=url, api_key=token)}}
    mp.undo()
    get_settings.cache_clear()


def _metadata(result, key):
    mats = [m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey(key)]
    assert mats, f"no materialization of {key}"
    return {k: v.value for k, v in mats[-1].materialization.metadata.items()}


def _project_tasks(client: LabelStudioClient, project: str) -> list[dict]:
    p = client.find_project(lab.PROJECT_TITLES[project])
    assert p is not None, f"project {project} not created"
    return client.tasks(int(p["id"]))


def test_projects_created_from_the_repo_label_configs(loop):
    client = loop["client"]
    for project in lab.PROJECTS:
        p = client.find_project(lab.PROJECT_TITLES[project])
        assert p is not None
        assert lab.label_config(project).version in p["description"]
        assert p["label_config"].strip() == lab.label_config(project).xml.strip()


def test_tasks_carry_only_redacted_content(loop):
    client, ledger = loop["client"], loop["ledger"]
    payload = json.dumps([_project_tasks(client, p) for p in lab.PROJECTS])
    assert PLANTED not in payload
    md = _metadata(loop["queue"], ["gold", "annotation_queue"])
    assert md["held_back_residual_pii"] >= 1
    # the spoken PII of the sample calls (read back from the raw transcripts through the
    # ledger's span offsets) never leaves either
    values = set()
    for span in ledger.spans(asset="silver/redacted_transcripts"):
        call = ledger.get_call(span["call_id"])
        raw = Transcript.from_dict(loop["store"].get_json(
            CallKeys(call["call_date"], call["tenant"], call["call_id"]).transcript))
        v = raw.segments[span["segment"]].text[span["start"]:span["end"]].strip(" ,.")
        if len(v) >= 4:
            values.add(v.lower())
    assert values, "the samples carry spoken PII: the check must have something to look for"
    for v in values:
        assert v not in payload.lower(), "a sample's PII value reached Label Studio"
    audio = [t["data"]["audio"] for t in _project_tasks(client, lab.SEGMENT_QA)]
    assert audio and all("silver/redacted_audio/" in a for a in audio)
    assert all(c["call_id"] for c in ledger.calls())


def test_a_repush_neither_duplicates_nor_overwrites(loop):
    client = loop["client"]
    before = {p: len(_project_tasks(client, p)) for p in lab.PROJECTS}
    call_tasks = _project_tasks(client, lab.CALL_LABELLING)
    t0 = call_tasks[0]
    client.annotate(t0["id"], [_choices("intent", "dialogue", TRUTH.get(t0["data"]["call_id"], "other")),
                               _choices("outcome", "dialogue", "resolved")], lead_time=5.0, completed_by=1)
    res = LabelStudioResource(url=loop["url"], api_key=loop["token"])
    again = res.push(lab.CALL_LABELLING, [{"data": dict(t["data"])} for t in call_tasks])
    assert again["imported"] == 0 and again["already_there"] == len(call_tasks)
    after = {p: len(_project_tasks(client, p)) for p in lab.PROJECTS}
    assert after == before
    kept = next(t for t in _project_tasks(client, lab.CALL_LABELLING) if t["id"] == t0["id"])
    assert len(kept["annotations"]) == 1  # the human work is still there
    # a second queue run sends no call twice
    r2 = loop["defs"].resolve_job_def("training_job").execute_in_process(
        instance=loop["instance"], asset_selection=[dg.AssetKey(["gold", "annotation_queue"])])
    assert _metadata(r2, ["gold", "annotation_queue"])["calls_chosen"] == 0


def _choices(name, to, value):
    return {"from_name": name, "to_name": to, "type": "choices", "value": {"choices": [value]}}


def test_round_trip_two_annotators_agreement_weights_and_dataset(loop):
    client, store, ledger = loop["client"], loop["store"], loop["ledger"]
    second = client.create_user("annotator2@callforge.local", "annotator2")
    first = 1
    calls = sorted(_project_tasks(client, lab.CALL_LABELLING), key=lambda t: t["data"]["call_id"])
    assert len(calls) >= 3
    truth = TRUTH
    disagreed = calls[-1]["data"]["call_id"]
    for t in calls:
        cid = t["data"]["call_id"]
        intent = truth.get(cid, "other")
        for user in (first, second):
            if t["annotations"] and user == first:
                continue  # labelled by the re-push test already
            mine = "payment_issue" if (user == second and cid == disagreed) else intent
            client.annotate(t["id"], [_choices("intent", "dialogue", mine), _choices("outcome", "dialogue", "resolved")],
                            lead_time=20.0 + user, completed_by=user)
    qa = _project_tasks(client, lab.SEGMENT_QA)[:4]
    verdicts = [("agree", None, None), ("disagree", "too_harsh", None), ("disagree", "false_positive", None),
                ("agree", None, 1.5)]
    for t, (verdict, reason, shift) in zip(qa, verdicts):
        result = [_choices("verdict", "segment", verdict)]
        if reason:
            result.append(_choices("disagreement_reason", "segment", reason))
        if shift is not None:
            result.append({"from_name": "timestamp_start", "to_name": "segment", "type": "number",
                           "value": {"number": float(t["data"]["start"]) + shift}})
        client.annotate(t["id"], result, lead_time=9.0, completed_by=first)

    # the sensor sees the new work and asks for a run that pulls it
    from sensors.recordings import completed_annotations

    def sense(cursor):
        with dg.build_sensor_context(instance=loop["instance"], cursor=cursor, resources=loop["sensor_resources"]) as c:
            return completed_annotations(c)

    out = sense(None)
    assert out.run_requests and len(out.run_requests) == 1
    cursor = json.loads(out.cursor)
    assert cursor["label_studio"]
    job = loop["defs"].resolve_job_def("annotations_job")
    res = job.execute_in_process(instance=loop["instance"], run_config=out.run_requests[0].run_config)
    assert res.success
    md = _metadata(res, ["bronze", "annotations"])
    n_expected = 2 * len(calls) + len(qa)
    assert md["annotations_added"] == n_expected
    agreement = md["agreement"]
    assert agreement["call_labelling/intent"]["method"] == "cohen_kappa"
    assert 0 < agreement["call_labelling/intent"]["value"] < 1  # one disagreement
    assert agreement["call_labelling/outcome"]["value"] == 1.0
    assert md["disagreements"] == 1
    assert md["kinds"] == {"label": 2 * len(calls), "agreement": 1, "correction": 1, "false_positive": 1,
                           "timestamp_fix": 1}
    # stored append-only, pseudonymised, with lead time and config version
    recs = [store.get_json(k) for k in store.list("bronze/annotations/") if k.endswith(".json")]
    assert len(recs) == n_expected
    assert {r["annotator"] for r in recs} <= {lab.pseudonymise_annotator(u, "callforge-local") for u in (first, second)}
    assert all(r["lead_time_s"] and r["label_config_version"] for r in recs)
    weights = sorted(r["weight"] for r in recs if r["project"] == lab.SEGMENT_QA)
    assert weights == [0.5, 1.0, 1.0, 1.0]
    assert {r.get("disagreement_reason") for r in recs if r["kind"] in ("correction", "false_positive")} == {
        "too_harsh", "false_positive"}

    # nothing new: the sensor skips; a repeated pull adds nothing
    assert not sense(out.cursor).run_requests
    again = job.execute_in_process(instance=loop["instance"])
    assert _metadata(again, ["bronze", "annotations"])["annotations_added"] == 0

    # an edit is a new version; the old one stays
    edited = qa[0]["id"]
    ann_id = next(t for t in _project_tasks(client, lab.SEGMENT_QA) if t["id"] == edited)["annotations"][0]["id"]
    client.update_annotation(ann_id, [_choices("verdict", "segment", "disagree"),
                                      _choices("disagreement_reason", "segment", "too_lenient")])
    out3 = sense(out.cursor)
    assert out3.run_requests
    r3 = job.execute_in_process(instance=loop["instance"], run_config=out3.run_requests[0].run_config)
    assert _metadata(r3, ["bronze", "annotations"])["annotations_added"] == 1
    assert len([k for k in store.list("bronze/annotations/") if k.endswith(".json")]) == n_expected + 1

    # the dataset is built from the consensus labels and carries the weights
    built = loop["defs"].resolve_job_def("training_job").execute_in_process(
        instance=loop["instance"], asset_selection=[dg.AssetKey(["gold", "training_datasets"])])
    assert built.success
    dmd = _metadata(built, ["gold", "training_datasets"])
    assert dmd["rows"] >= 3
    # the call whose redacted transcript still carries a card number is filtered out, by reason
    assert [loop["planted_call"], "redaction_unverified"] in dmd["skipped"]
    manifest = store.get_json(dataset_prefix(dmd["version"]) + "manifest.json")
    rows = [json.loads(x) for s in ("train", "validation", "test")
            for x in store.get_bytes(manifest["classification"][s]).decode().splitlines()]
    assert {r["call_id"] for r in rows} <= {c for c, i in TRUTH.items()} - {loop["planted_call"]}
    assert all(r["label"] == TRUTH[r["call_id"]] or r["task"] == "outcome" for r in rows
               if r["call_id"] != disagreed)  # consensus of two agreeing annotators
    chat = [json.loads(x) for s in ("train", "validation", "test")
            for x in store.get_bytes(manifest["chat"][s]).decode().splitlines()]
    seg_weights = sorted(r["weight"] for r in chat if r["source"].startswith("segment_qa"))
    assert seg_weights == [1.0, 1.0, 1.0, 1.0]  # the agreement became a correction when edited
    assert all(r["messages"][1]["role"] == "user" for r in chat)
    card = store.get_bytes(manifest["card"]).decode()
    assert manifest["version"] in card
    customers = {c["customer_id"] for c in ledger.calls() if c.get("customer_id")}
    assert customers and not any(cu in card for cu in customers)


def test_unreachable_or_unauthorised_server_fails_clearly(ls):
    url, _token = ls
    with pytest.raises(LabelStudioError, match="401 unauthorised"):
        LabelStudioClient(url, "not-a-token").find_project("x")
    with pytest.raises(LabelStudioError, match="unreachable"):
        LabelStudioClient("http://127.0.0.1:9", "t", timeout_s=2, retries=0).find_project("x")


def test_label_noise_review_tasks_reach_label_studio_and_update_the_consensus(loop):
    from pipeline.domain.flows import labelling as labelling_flow

    client, store, ledger = loop["client"], loop["store"], loop["ledger"]
    cfg = loop["settings"].section("labelling")
    call = next(c for c in ("call_0004", "call_0005") if c != loop["planted_call"])
    flagged = [{"id": call, "given_label": "card_lost", "suggested_label": "payment_issue", "score": 0.03}]
    tasks, held = labelling_flow.noise_review_tasks(store, ledger, flagged, "ds-test", cfg["intents"], cfg["outcomes"])
    assert held == 0 and len(tasks) == 1
    planted = [{**flagged[0], "id": loop["planted_call"]}]
    assert labelling_flow.noise_review_tasks(store, ledger, planted, "ds-test", cfg["intents"],
                                             cfg["outcomes"]) == ([], 1)  # residual PII: held back
    res = LabelStudioResource(url=loop["url"], api_key=loop["token"])
    assert res.push(lab.CALL_LABELLING, tasks)["imported"] == 1
    assert res.push(lab.CALL_LABELLING, tasks)["imported"] == 0
    review = next(t for t in _project_tasks(client, lab.CALL_LABELLING)
                  if t["data"]["task_key"] == f"call_labelling:{call}:review:ds-test")
    assert "payment_issue" in review["data"]["title"] and review["data"]["queue_reason"] == "label_noise"
    # both annotators, on review, now say payment_issue: the consensus follows their latest answers
    for user in (1, client.create_user("annotator2@callforge.local", "annotator2")):
        client.annotate(review["id"], [_choices("intent", "dialogue", "payment_issue"),
                                       _choices("outcome", "dialogue", "resolved")], lead_time=4.0, completed_by=user)
    r = loop["defs"].resolve_job_def("annotations_job").execute_in_process(instance=loop["instance"])
    assert r.success
    assert labelling_flow.latest_labels(ledger)[call]["intent"] == "payment_issue"
