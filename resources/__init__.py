"""ConfigurableResources, built in ONE place that switches on the profile.

embedded (default): local folders, SQLite ledger, LanceDB — no services needed.
production: S3 (dagster-aws, endpoint_url for MinIO), PostgreSQL ledger, Weaviate,
Label Studio; every secret and endpoint from environment variables via dg.EnvVar.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from pipeline.settings import Settings


def build_resources(settings: Settings) -> dict[str, Any]:
    from dagster_aws.s3 import S3PickleIOManager, S3Resource

    from resources.label_studio import LabelStudioResource
    from resources.asr import AsrResource
    from resources.embedder import EmbedderResource
    from resources.landing import LandingZoneResource
    from resources.ledger import LedgerResource
    from resources.object_store import ObjectStoreResource
    from resources.redactor import RedactorResource
    from resources.trainer import TrainerResource
    from resources.vector_index import VectorIndexResource

    asr_cfg = settings.section("asr")
    red_cfg = settings.section("redaction")
    train_cfg = settings.section("training")
    asr = AsrResource(
        model_path=asr_cfg.get("model_path"), device=asr_cfg.get("device", "cpu"),
        compute_type=asr_cfg.get("compute_type", "int8"), beam_size=int(asr_cfg.get("beam_size", 1)),
        cpu_threads=int(asr_cfg.get("cpu_threads", 1)), workers=settings.asr_workers,
        batch_size=int(asr_cfg.get("batch_size", 8)),
        mix_channels=bool(asr_cfg.get("mix_channels", True)),
        # one bound for both: the engine re-decodes below it, the quality gate then judges
        redecode_min_coverage=settings.section("quality").get("min_speech_coverage", 0.85),
        redecode_max_wer=settings.section("quality").get("max_wer", 0.25),
    )
    pseudonym_key = dg.EnvVar("CALLFORGE_PSEUDONYM_KEY") if red_cfg.get("operator") == "pseudonym" else None
    redactor = RedactorResource(operator=red_cfg.get("operator", "placeholder"),
                                score_threshold=float(red_cfg.get("score_threshold", 0.35)),
                                pseudonym_key=pseudonym_key,
                                quasi_identifiers=list(red_cfg.get("quasi_identifiers") or []))
    trainer = TrainerResource(
        base_model_path=train_cfg.get("base_model_path"), registry_dir=str(settings.home / "registry"),
        epochs=train_cfg.get("epochs"), max_steps=train_cfg.get("max_steps"),
        intent_recipe=dict(train_cfg.get("intent_recipe") or {}),
        min_examples=int(train_cfg.get("min_examples", 50)), min_new_examples=int(train_cfg.get("min_new_examples", 50)),
        lock_stale_after_s=float(train_cfg.get("lock_stale_after_s", 6 * 3600)),
        chat_tokenizer_path=train_cfg.get("chat_tokenizer_path"), max_tokens=int(train_cfg.get("max_tokens", 2048)),
        launcher=train_cfg.get("launcher", "pipes_subprocess"),
        chat_base_model_path=train_cfg.get("chat_base_model_path"), chat_max_steps=train_cfg.get("chat_max_steps"),
        chat_min_examples=int(train_cfg.get("chat_min_examples", 50)),
    )
    embedder = EmbedderResource(model_path=settings.section("embeddings").get("model_path"))
    # the training step's launcher: a subprocess here; PipesK8sClient & co. launch it on a GPU node
    pipes = dg.PipesSubprocessClient()

    if settings.profile == "production":
        s3 = S3Resource(endpoint_url=dg.EnvVar("CALLFORGE_S3_ENDPOINT_URL"),
                        region_name=dg.EnvVar("AWS_REGION"),
                        aws_access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
                        aws_secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"))
        bucket = dg.EnvVar("CALLFORGE_S3_BUCKET")
        return {
            "landing": LandingZoneResource(backend="s3", bucket=bucket, prefix="landing", s3=s3),
            "object_store": ObjectStoreResource(backend="s3", bucket=bucket, prefix="lake", s3=s3),
            "ledger": LedgerResource(url=dg.EnvVar("CALLFORGE_LEDGER_URL")),
            "vector_index": _production_vector_index(),
            "annotation": LabelStudioResource(url=dg.EnvVar("LABEL_STUDIO_URL"), api_key=dg.EnvVar("LABEL_STUDIO_API_KEY"),
                                              annotator_salt=dg.EnvVar("CALLFORGE_ANNOTATOR_SALT")),
            "io_manager": S3PickleIOManager(s3_resource=s3, s3_bucket=bucket, s3_prefix="io"),
            "asr": asr, "redactor": redactor, "trainer": trainer, "embedder": embedder, "pipes": pipes,
        }
    return {
        "landing": LandingZoneResource(backend="local", root=str(settings.landing_dir)),
        "object_store": ObjectStoreResource(backend="local", root=str(settings.object_store_root)),
        "ledger": LedgerResource(url=settings.ledger_url),
        "vector_index": VectorIndexResource(backend="lancedb", lancedb_uri=settings.lancedb_uri),
        "annotation": _embedded_label_studio(settings),
        "asr": asr, "redactor": redactor, "trainer": trainer, "embedder": embedder, "pipes": pipes,
    }


def _production_vector_index() -> Any:
    """Weaviate; or LanceDB at CALLFORGE_LANCEDB_URI when that is set (a folder every
    worker mounts, or any LanceDB URI: a site without Weaviate, and the Celery test)."""
    import os

    from resources.vector_index import VectorIndexResource

    if os.environ.get("CALLFORGE_LANCEDB_URI"):
        return VectorIndexResource(backend="lancedb", lancedb_uri=dg.EnvVar("CALLFORGE_LANCEDB_URI"))
    return VectorIndexResource(backend="weaviate", weaviate_url=dg.EnvVar("CALLFORGE_WEAVIATE_URL"),
                               weaviate_api_key=dg.EnvVar("CALLFORGE_WEAVIATE_API_KEY"))


def _embedded_label_studio(settings: Settings) -> Any:
    """A local task folder, or the Label Studio server named by LABEL_STUDIO_URL and
    LABEL_STUDIO_API_KEY when both are set (``make label-studio`` prints them)."""
    import os

    from resources.label_studio import LabelStudioResource

    if os.environ.get("LABEL_STUDIO_URL") and os.environ.get("LABEL_STUDIO_API_KEY"):
        return LabelStudioResource(url=dg.EnvVar("LABEL_STUDIO_URL"), api_key=dg.EnvVar("LABEL_STUDIO_API_KEY"),
                                   tasks_dir=str(settings.home / "annotation_tasks"))
    return LabelStudioResource(tasks_dir=str(settings.home / "annotation_tasks"))
