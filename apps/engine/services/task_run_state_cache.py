"""A per-process cache of what a set_state orchestrates from, so that a set_state can skip its read: the task
run (with its state) as it was after the last write this process made or saw, and its flow run (with its
state) as this process last read or wrote it; the flow run's entry also serves the flow run's own set_state
(`flow_run_get`, below).

Why it is safe to decide from a copy that may be stale: the write that follows is a compare-and-swap on BOTH
state ids (apps/engine/services/run_states.py, "From this process's cache"): the task run's UPDATE (or, for a
decision that writes no state, the guard SELECT) only matches if the task run still has the cached state id in
the cached workspace and its flow run still has the cached flow run state id. Every state ever written has a
fresh id, and nothing but a set_state changes what the task rules read of either run (the task run's PATCH
changes its name only; the flow run's state, state type and run count change with its state), so unchanged
ids mean the orchestration had exactly the inputs a fresh read would have given. If anything moved (another
process's transition, the flow run paused or cancelled, the run deleted, a transaction that wrote the cached
state rolled back), the statement writes nothing, the entry is dropped and set_state reads afresh as it does
without the cache. A stale entry costs a wasted orchestration, never a wrong decision.

Filled by a task run create that inserted its run (the task run only: the flow run part comes from the flow
run entry, filled by any set_state read of a task of that flow run in this process) and by every set_state
that wrote (or read) the run. With the prefect client each task run's requests arrive on one keep-alive
connection, so one worker process, and a flow run's tasks mostly share the worker: after a flow run's first
task, both set_states of a task run hit.

Bounded (oldest entries dropped first) and shared by a worker's request threads: entries are the instances'
attribute dicts, never handed out; `get` builds new instances from them (orchestration mutates the run and
rules read the states' details), `remember` copies the attributes in. The one exception, `get_parts`' flow run:
built once per flow run entry (`_shared_flow_runs`, kept with the entry it was built from and rebuilt when the
entry is replaced) and handed to each of its task runs' set_states, READ-ONLY (the task rules read its id, run
count, state type and state, the compare-and-swap its id and state id; nothing writes it or hands it on).
An entry is dropped when its run reaches a terminal state (the client's task run is over; a rerun only misses
once) and on a lost compare-and-swap, so it holds about the task runs under way.
`settings.PRAETOR_SET_STATE_CACHE` (read when this module is imported) turns it off.

A flow run's own set_state (`flow_run_get`, `flow_run_remember`): its entry holds the columns the flow
policies read (`FLOW_RUN_DECIDED_FROM`), its state type and its state (data included), filled by the create
that inserted it and by each of its set_states, dropped when it reaches a terminal state. Its compare-and-swap
compares all of those columns and the workspace with the copy's (apps/engine/services/run_states.py), so a
PATCH of its policy or process id, a deleted deployment, or a transition elsewhere makes it write nothing and
the set_state reads afresh. An entry copied as a task run's parent (by a task run's read, which leaves out the
policy and the state's data) serves task runs only: the flow run's set_state then reads. With the prefect
client, a flow run's requests come on one connection, so one process: its create fills the entry, and both of
its set_states (Running, Completed) are one statement each.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import uuid

from django.conf import settings
from django.db.models.base import ModelState

from apps.engine.models.runs import FlowRun, FlowRunState, TaskRun, TaskRunState
from apps.engine.orchestration.policies import FLOW_RUN_DECIDED_FROM
from apps.engine.orchestration.rules import TERMINAL_STATES

ENABLED: bool = settings.PRAETOR_SET_STATE_CACHE
MAX_TASK_RUNS = 4096
MAX_FLOW_RUNS = 1024

_lock = threading.Lock()
_task_runs: dict = {}  # key(workspace id, task run id) -> (run attributes, state attributes or None)
_flow_runs: dict = {}  # key(workspace id, flow run id) -> (run attributes, state attributes or None)
# key(workspace id, flow run id) -> (the `_flow_runs` entry, the read-only flow run instance built from it)
_shared_flow_runs: dict = {}
_UUID = uuid.UUID


def key(workspace_id, run_id) -> tuple:
    """The entries' key of (workspace id, run id): each id by its 128-bit integer when it is a uuid.UUID (what
    equality and the hash of a UUID compare), so that finding an entry hashes and compares ints in C rather than
    calling UUID.__hash__ and UUID.__eq__ (Python) for both ids at each lookup; any other value as it is. The
    hot paths below spell the same expression inline (a call less)."""
    return (workspace_id.int if type(workspace_id) is _UUID else workspace_id,
            run_id.int if type(run_id) is _UUID else run_id)

# Hits and misses of `get` ("hit", "miss") and `flow_run_get` ("flow_run_hit", "flow_run_miss"), counted only
# with PRAETOR_SET_STATE_CACHE_STATS (benchmarks: a path, written to PATH.PID as JSON every 20 lookups and at
# exit; docs/performance.md, "Ninth step ... (branch setcache)").
stats: dict | None = {"hit": 0, "miss": 0} if settings.PRAETOR_SET_STATE_CACHE_STATS else None


def _write_stats() -> None:
    path = f"{settings.PRAETOR_SET_STATE_CACHE_STATS}.{os.getpid()}"
    with open(path, "w") as out:
        json.dump(stats, out)


def _count(hit: bool, kind: str = "") -> None:
    key = kind + ("hit" if hit else "miss")
    stats[key] = stats.get(key, 0) + 1
    if sum(stats.values()) % 20 == 0:
        _write_stats()


if stats is not None:
    atexit.register(_write_stats)


_uuid_names: dict = {}


def _uuid_attnames(model) -> tuple:
    names = _uuid_names.get(model)
    if names is None:
        names = _uuid_names[model] = tuple(
            f.attname for f in model._meta.concrete_fields
            if (f.target_field if f.is_relation else f).get_internal_type() == "UUIDField")
    return names


def _attributes(obj) -> dict:
    """The instance's field values (and nothing of Django's bookkeeping: `_state`, its relation caches)."""
    attributes = obj.__dict__.copy()
    del attributes["_state"]
    return attributes


def _canonical_ids(attributes: dict, model) -> dict:
    """`attributes` with the ids as a read gives them (uuid.UUID): a create's came validated, as strings, in
    the client's spelling (`str()` of one, written into a state's details, would keep it where a read gives
    the canonical one)."""
    for name in _uuid_attnames(model):
        value = attributes.get(name)
        if value is not None and type(value) is not uuid.UUID:
            attributes[name] = uuid.UUID(str(value))
    return attributes


def _instance(model, attributes: dict):
    """A new instance of `model` holding `attributes`, as loaded from the database (what a read builds,
    without a query): fields missing from `attributes` were deferred and load on access, as they would."""
    obj = object.__new__(model)
    state = ModelState()
    state.adding, state.db, state.fields_cache = False, "default", {}
    # A copy of the entry (its table copied whole) as the instance's `__dict__`, rather than each attribute
    # inserted into the fresh instance's own: the same attributes, `_state` last rather than first
    own = attributes.copy()
    own["_state"] = state
    obj.__dict__ = own
    return obj


def _state_instance(model, attributes: dict | None):
    if attributes is None:
        return None
    state = _instance(model, attributes)
    state.state_details = dict(attributes["state_details"] or {})  # rules read it; bookkeeping writes proposals'
    return state


def _put(entries: dict, limit: int, key, value) -> None:
    with _lock:
        entries.pop(key, None)  # re-inserted last: the oldest are dropped first
        entries[key] = value
        while len(entries) > limit:
            del entries[next(iter(entries))]


def get(workspace_id, task_run_id) -> TaskRun | None:
    """The task run as last written or read here, with its state, its flow run and that run's state (new
    instances, the caller's to mutate), or None if either run is not cached."""
    found = get_parts(workspace_id, task_run_id)
    if not found:
        return None
    run, _, flow_run = found
    if flow_run is not None:  # get_parts' flow run is shared (read-only): this one, a copy of it, the caller's
        own = run._state.fields_cache["flow_run"] = _instance(FlowRun, _attributes(flow_run))
        flow_state = flow_run._state.fields_cache["state"]
        own._state.fields_cache["state"] = (_state_instance(FlowRunState, _attributes(flow_state))
                                            if flow_state is not None else None)
    return run


def get_parts(workspace_id, task_run_id) -> tuple | None:
    """`get`'s run, its state and its flow run (the run's `state` and `flow_run`; None for a run without one),
    handed over as built rather than read back through the run's relations (Django's descriptor, ~3.5 k
    instructions a read), or None. The run and its state are new instances, the caller's; the flow run (with its
    state) is one instance per flow run entry, shared by the set_states of its task runs (and threads) until the
    entry is replaced: READ-ONLY (the task rules and the compare-and-swap only read it: its id, run count, state
    type, state id and state; `get` gives a caller's own)."""
    workspace_key = workspace_id.int if type(workspace_id) is _UUID else workspace_id
    entry = _task_runs.get((workspace_key, task_run_id.int if type(task_run_id) is _UUID else task_run_id))
    flow_entry = None
    if entry is not None and (flow_run_id := entry[0]["flow_run_id"]) is not None:
        flow_key = (workspace_key, flow_run_id.int if type(flow_run_id) is _UUID else flow_run_id)
        flow_entry = _flow_runs.get(flow_key)
        if flow_entry is None:
            entry = None
    if stats is not None:
        _count(entry is not None)
    if entry is None:
        return None
    run = _instance(TaskRun, entry[0])
    run.__dict__["workspace_id"] = workspace_id  # the one asked for (the entry's): the write checks the run is in it
    cache = run._state.fields_cache
    state_attributes = entry[1]  # `_state_instance`, inline
    if state_attributes is not None:
        state = _instance(TaskRunState, state_attributes)
        state.state_details = dict(state_attributes["state_details"] or {})
    else:
        state = None
    cache["state"] = state
    if flow_entry is not None:
        shared = _shared_flow_runs.get(flow_key)
        flow_run = cache["flow_run"] = (shared[1] if shared is not None and shared[0] is flow_entry
                                        else _share_flow_run(flow_key, flow_entry))
    else:
        flow_run = cache["flow_run"] = None
    return run, state, flow_run


def _share_flow_run(flow_key, flow_entry):
    """The flow run instance (with its state) of `flow_entry`, built once for the entry and kept with it."""
    flow_run = _instance(FlowRun, flow_entry[0])
    flow_run._state.fields_cache["state"] = _state_instance(FlowRunState, flow_entry[1])
    _put(_shared_flow_runs, MAX_FLOW_RUNS, flow_key, (flow_entry, flow_run))
    return flow_run


def remember(run, *, flow_run: bool = True, state=None) -> None:
    """Keep `run` (a task run with its state loaded, as just written or read; its flow run too if loaded and
    `flow_run`) for the next set_state of this process; a run in a terminal state is dropped instead. Its ids
    are the database's (uuid.UUID): it was read, or built from a copy or a read. `state`: the run's state row
    when its `state` relation does not hold it (a copy from `get` pointed at a new state by its `state_id` only:
    apps/engine/services/run_states.py `deferred_writer(relate=False)`)."""
    if not ENABLED:
        return
    # The foreign keys' ids read from the instance's attributes, where Django's descriptor reads a loaded value
    # (`ForeignKeyDeferredAttribute.__get__`, Python: ~1.3 k a read); a deferred one (no caller defers them) is
    # loaded by the descriptor as before, in the same order (loading `state_id` drops the cached `state`)
    attributes = run.__dict__
    try:
        workspace_id = attributes["workspace_id"]
    except KeyError:
        workspace_id = run.workspace_id
    run_id = run.id
    workspace_key = workspace_id.int if type(workspace_id) is _UUID else workspace_id
    cache = run._state.fields_cache
    if state is None:
        state = cache.get("state")
    try:
        state_id = attributes["state_id"]
    except KeyError:
        state_id = run.state_id if state is not None else None  # (as before: read only to compare with a state)
    # (the same id object, as a set_state's new state and the run's pointer at it are, is equal without
    # UUID.__eq__'s Python call)
    if state is None or (state.id is not state_id and state.id != state_id) or state.type in TERMINAL_STATES:
        # its state is not the one loaded (nothing to decide from), or it is over (nothing follows, as a rule):
        # `forget`, its key as computed here
        with _lock:
            _task_runs.pop((workspace_key, run_id.int if type(run_id) is _UUID else run_id), None)
        return
    parent = cache.get("flow_run") if flow_run else None
    if parent is not None:
        parent_state = parent._state.fields_cache.get("state")
        parent_key = key(workspace_id, parent.id)
        kept = _flow_runs.get(parent_key)
        # an entry of the same state says the same of what task runs read (it may hold more: the flow run's own)
        if (parent_state is None or parent_state.id == parent.state_id) and (
                kept is None or kept[0]["state_id"] != parent.state_id):
            _put(_flow_runs, MAX_FLOW_RUNS, parent_key,
                 (_attributes(parent), _attributes(parent_state) if parent_state is not None else None))
    state_attributes = state.__dict__.copy()  # `_attributes`, inline
    del state_attributes["_state"]
    state_attributes["state_details"] = dict(state_attributes["state_details"] or {})
    run_attributes = attributes.copy()
    del run_attributes["_state"]
    _put(_task_runs, MAX_TASK_RUNS, (workspace_key, run_id.int if type(run_id) is _UUID else run_id),
         (run_attributes, state_attributes))


def remember_created(run) -> None:
    """Keep a task run just inserted by a create (with its first state), its ids made the database's."""
    if not ENABLED:
        return
    state = run._state.fields_cache.get("state")
    if state is None or state.type in TERMINAL_STATES:
        return
    attributes = run.__dict__.copy()  # `_attributes`, inline (as below)
    del attributes["_state"]
    attributes = _canonical_ids(attributes, TaskRun)
    attributes.pop("task_inputs", None)  # deferred, as the set_state read defers it: no rule reads it, it can be large
    state_attributes = state.__dict__.copy()
    del state_attributes["_state"]
    state_attributes = _canonical_ids(state_attributes, TaskRunState)
    state_attributes["state_details"] = dict(state_attributes["state_details"] or {})
    workspace_id, run_id = attributes["workspace_id"], attributes["id"]  # `key`, inline
    _put(_task_runs, MAX_TASK_RUNS, (workspace_id.int if type(workspace_id) is _UUID else workspace_id,
                                     run_id.int if type(run_id) is _UUID else run_id), (attributes, state_attributes))


# What a flow run's entry holds of the run: its id and workspace, what the flow policies read, and what a task
# run's set_state reads of its flow run besides those (the state type).
_FLOW_RUN_COPIED = ("id", "workspace_id", "state_type", *FLOW_RUN_DECIDED_FROM)
_FLOW_RUN_COPIED_NAMES = frozenset(_FLOW_RUN_COPIED)


def flow_run_get(workspace_id, flow_run_id) -> FlowRun | None:
    """The flow run as last created, written or read by its set_state here, with its state (new instances,
    the caller's to mutate; its other columns deferred), or None: not cached, or cached as a task run's parent
    only (without the policy and the state's data)."""
    entry = _flow_runs.get(key(workspace_id, flow_run_id))
    if entry is not None and (entry[1] is None or "data" not in entry[1]
                              or not entry[0].keys() >= _FLOW_RUN_COPIED_NAMES):
        entry = None
    if stats is not None:
        _count(entry is not None, "flow_run_")
    if entry is None:
        return None
    run = _instance(FlowRun, entry[0])
    run.__dict__["workspace_id"] = workspace_id  # the one asked for (the entry's): the write checks the run is in it
    run._state.fields_cache["state"] = _state_instance(FlowRunState, entry[1])
    return run


def _flow_run_put(attributes: dict, state_attributes: dict) -> None:
    state_attributes["state_details"] = dict(state_attributes["state_details"] or {})
    _put(_flow_runs, MAX_FLOW_RUNS, key(attributes["workspace_id"], attributes["id"]),
         ({name: attributes[name] for name in _FLOW_RUN_COPIED}, state_attributes))


def flow_run_remember(run) -> None:
    """Keep `run` (a flow run with its state loaded, as just written or read; ids as a read gives them) for its
    next set_state in this process and as its task runs' flow run; a run in a terminal state is dropped."""
    if not ENABLED:
        return
    state = run._state.fields_cache.get("state")
    if state is None or state.id != run.state_id or state.type in TERMINAL_STATES:
        flow_run_forget(run.workspace_id, run.id)
        return
    _flow_run_put(run.__dict__, _attributes(state))


def flow_run_remember_created(run) -> None:
    """Keep a flow run just inserted by a create (with its first state), its ids made the database's."""
    if not ENABLED:
        return
    state = run._state.fields_cache.get("state")
    if state is None or state.type in TERMINAL_STATES:
        return
    _flow_run_put(_canonical_ids({name: run.__dict__[name] for name in _FLOW_RUN_COPIED}, FlowRun),
                  _canonical_ids(_attributes(state), FlowRunState))


def forget(workspace_id, task_run_id) -> None:
    with _lock:
        _task_runs.pop(key(workspace_id, task_run_id), None)


def flow_run_forget(workspace_id, flow_run_id) -> None:
    with _lock:
        _flow_runs.pop(key(workspace_id, flow_run_id), None)
        _shared_flow_runs.pop(key(workspace_id, flow_run_id), None)


def clear() -> None:
    """Drop every entry (tests)."""
    with _lock:
        _task_runs.clear()
        _flow_runs.clear()
        _shared_flow_runs.clear()
