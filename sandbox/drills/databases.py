"""databases: a database, two login roles and two extensions declared (pg-platform:postgresql.databases and
.roles), one of them needing shared_preload_libraries, carried by the configure step (whose rolling restart
loads the library) and the roles step, while a client writes through the router; then taken back out the same
way. The drill measures both changes' write outage, checks that every member runs what was rendered, that a
rotated declared role reaches its database through the routed, pooled port, that the roles step removes what
is no longer declared, and cleans up the database the platform itself never drops."""

from __future__ import annotations

import dataclasses

from dataplane import console
from dataplane.model import ClusterSpec
from sandbox import configure, processes
from sandbox.client import Sandbox, one_row
from sandbox.harness.outage import TIMED, run_change_with_writer, write_drill_result
from sandbox.harness.result import RECOVER_SECONDS, Drill, DrillOptions, DrillResult, objectives
from sandbox.services import roles
from stacks.databases import TIERS, Database, Declared, Role, tier_role

NAME = "databases"
DATABASE = "drill_orders"
# pg_prewarm needs its library preloaded, so declaring it takes a rolling restart; pg_trgm does not.
EXTENSIONS = ("pg_trgm", "pg_prewarm")
OWNER, WRITER = "drill_migrator", "drill_api"
DECLARED = Declared(
    databases=(Database(DATABASE, EXTENSIONS),),
    roles=(Role(OWNER, DATABASE, "owner"), Role(WRITER, DATABASE, "rw", connection_limit=5)),
)


def declared_differences(sandbox: Sandbox, spec: ClusterSpec) -> list[str]:
    """Where a member runs something other than `spec` renders, for what the drill declares."""
    problems = []
    wanted = spec.declared.database(DATABASE)
    for member in spec.members:
        preload = processes.psql(sandbox.layout, member, "show shared_preload_libraries").split(",")
        pending = processes.psql(sandbox.layout, member, "select count(*) from pg_settings where pending_restart")
        if ("pg_prewarm" in preload) != bool(wanted) or pending != "0":
            problems.append(f"{member.name}: shared_preload_libraries {preload}, {pending} pending restart(s)")
        exists = processes.psql(
            sandbox.layout, member, f"select count(*) from pg_database where datname = '{DATABASE}'"
        )
        if wanted and exists != "1":
            problems.append(f"{member.name}: no database {DATABASE}")
        # A database the stack no longer declares keeps its extensions with its data.
        if wanted and exists == "1":
            found = processes.psql(
                sandbox.layout,
                member,
                "select coalesce(string_agg(extname || ':' || extnamespace::regnamespace, ',' order by extname), '')"
                " from pg_extension where extname <> 'plpgsql'",
                dbname=DATABASE,
            )
            rendered = ",".join(sorted(f"{e}:app" for e in wanted.extensions))
            if found != rendered:
                problems.append(f"{member.name}: extensions {found or 'none'}, rendered {rendered or 'none'}")
        logins = processes.psql(
            sandbox.layout,
            member,
            "select coalesce(string_agg(rolname, ',' order by rolname), '') from pg_roles "
            "where rolname like 'drill\\_%' and rolcanlogin",
        )
        if logins != ",".join(sorted(r.name for r in spec.declared.roles)):
            problems.append(f"{member.name}: login roles {logins or 'none'}")
    return problems


def _pooled_login(sandbox: Sandbox, spec: ClusterSpec) -> str | None:
    """Both roles' passwords rotated through the console's SQL, then, through the routed, pooled port, the
    owner tier creates a table and the rw tier writes to it with no grant in between; None when that worked,
    else why not."""
    leader = sandbox.leader_member()
    passwords = {}
    for role in (r.name for r in DECLARED.roles):
        password, salt = console.new_password()
        processes.psql(sandbox.layout, leader, console.rotate_sql(spec, role, console.scram_verifier(password, salt)))
        passwords[role] = password
    try:
        port = spec.router.pooled_port
        with sandbox.connect(port, user=OWNER, dbname=DATABASE, password=passwords[OWNER]) as c:
            c.execute("create table if not exists drill_probe (id int)")
        with sandbox.connect(port, user=WRITER, dbname=DATABASE, password=passwords[WRITER]) as conn:
            conn.execute("insert into drill_probe values (1)")
            row = one_row(conn, "select current_user, current_database(), count(*) from drill_probe")
        return None if row == (WRITER, DATABASE, 1) else f"pooled session answered {row}"
    except Exception as error:  # the drill reports it; the removal below still runs
        return f"pooled session as a declared role: {type(error).__name__}: {error}"


def databases(sandbox: Sandbox, options: DrillOptions) -> DrillResult:
    notes: list[str] = []
    sandbox.wait_healthy(RECOVER_SECONDS)
    original = sandbox.layout.spec
    target = dataclasses.replace(original, declared=DECLARED)
    leader = sandbox.leader_member().name
    rto = objectives(sandbox).rto_seconds

    def change(spec: ClusterSpec):
        def carry() -> None:
            reports = configure.apply(spec, say=notes.append)
            notes.append("restarted: " + (", ".join(r.member for r in reports if r.restart_needed) or "none"))
            roles.start(sandbox.layout)

        return run_change_with_writer(sandbox, NAME, carry, notes)

    added = change(target)
    result = write_drill_result(NAME, sandbox, added, leader, notes)
    sandbox.wait_healthy(RECOVER_SECONDS)
    differences = declared_differences(sandbox, target)
    login_problem = _pooled_login(sandbox, target)
    removed = change(original)
    sandbox.wait_healthy(RECOVER_SECONDS)
    leftovers = declared_differences(sandbox, original)
    # The platform never drops a declared database (its data stays); the drill drops its own, and its groups.
    processes.psql(
        sandbox.layout,
        sandbox.leader_member(),
        f"drop database if exists {DATABASE} with (force);"
        + "".join(f"drop role if exists {tier_role(DATABASE, t)};" for t in TIERS),
    )
    result.measurements.update(
        running_equals_rendered=not differences,
        pooled_login=login_problem is None,
        removed_outage_s=removed.write_outage_seconds if removed.write_outage_seconds is not None else "never",
        removed_lost=removed.lost,
        removed_everywhere=not leftovers,
    )
    notes += differences + leftovers + ([login_problem] if login_problem else [])
    removed_slow = removed.write_outage_seconds is None or removed.write_outage_seconds > rto
    if differences or leftovers or login_problem or removed.lost or removed_slow:
        result.passed = False
    return result


DRILL = Drill(NAME, databases, timed=(*TIMED, "removed_outage_s"))
