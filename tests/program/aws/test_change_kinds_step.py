"""Two day-two change kinds on AWS, as the plan diff shows them: pg-platform:tls and pg-platform:backups move the
configure step (each member's bundle carries the new PostgreSQL parameter, pgbouncer.ini or timers), and nothing
else: no instance is replaced, since the agent applies both with reloads."""

from __future__ import annotations

from dataplane import pgbackrest, restore_drill
from tests.program.aws.test_configure_step import INSTANCE, bundles_of, configure_step, patroni_file
from tests.unit.stack_helpers import overridden
from tools.records import Plan
from tools.runner import run_stack


def files_of(bundle: dict) -> dict[str, str]:
    return {f["path"]: f["content"] for f in bundle["files"]}


def instance_shapes(plan: Plan) -> dict[str, tuple]:
    return {r.name: (r.inputs.get("instanceType"), r.inputs.get("ami")) for r in plan.by_type(INSTANCE)}


def test_tls_1_3_moves_the_configure_step_and_reaches_postgresql_and_pgbouncer():
    base = run_stack("prod")
    strict = run_stack("prod", overrides={"pg-platform:tls": {"min_protocol_version": "TLSv1.3"}})
    old, new = configure_step(base), configure_step(strict)
    assert old.inputs["triggers"][1:] != new.inputs["triggers"][1:]
    before = bundles_of(old)
    for name, bundle in bundles_of(new).items():
        assert "ssl_min_protocol_version: TLSv1.3" in patroni_file(bundle)
        assert "ssl_min_protocol_version: TLSv1.2" in patroni_file(before[name])
        ini = next(c for p, c in files_of(bundle).items() if p.endswith("/pgbouncer.ini"))
        assert "client_tls_protocols = tlsv1.3\n" in ini and "server_tls_protocols = tlsv1.3\n" in ini
        # Only the files that render TLS differ: no restart-only file (etcd's) changes.
        changed = {p for p, c in files_of(bundle).items() if files_of(before[name]).get(p) != c}
        assert {p.rsplit("/", 1)[-1] for p in changed} == {"patroni.yml", "pgbouncer.ini"}, changed
    assert instance_shapes(base) == instance_shapes(strict)


def test_backups_off_in_dev_moves_the_configure_step_with_the_archive_and_the_timers():
    base = run_stack("dev")
    objectives = overridden("dev", "objectives", lambda o: o.pop("rpo_seconds"))
    off = run_stack("dev", overrides={**objectives, "pg-platform:backups": {"enabled": False}})
    old, new = configure_step(base), configure_step(off)
    assert old.inputs["triggers"][1:] != new.inputs["triggers"][1:]
    before = bundles_of(old)
    for name, bundle in bundles_of(new).items():
        files, earlier = files_of(bundle), files_of(before[name])
        assert f"archive_command: {pgbackrest.ARCHIVE_NOTHING_COMMAND}" in patroni_file(bundle)
        assert "archive-push" in patroni_file(before[name]) and "archive_mode: 'on'" in patroni_file(bundle)
        assert "--type=full" in earlier[pgbackrest.BACKUP_CRON_FILE]
        assert "--type=full" not in files[pgbackrest.BACKUP_CRON_FILE]
        assert restore_drill.RESTORE_DRILL_COMMAND + " --scheduled" in earlier[restore_drill.CRON_FILE]
        assert restore_drill.RESTORE_DRILL_COMMAND + " --scheduled" not in files[restore_drill.CRON_FILE]
    assert instance_shapes(base) == instance_shapes(off)
