"""Units of work on the one shared connection of an in-memory database take turns."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from loantrace.services.access import AccessService
from loantrace.store.access import SqlAccessUnitOfWork
from loantrace.store.db import init_schema, make_engine, session_scope
from loantrace.store.models import ApiKeyRow
from loantrace.store.uow import taking_turns


def test_threads_sharing_an_in_memory_database_each_finish_their_work() -> None:
    engine = make_engine("sqlite://")
    init_schema(engine)
    access = AccessService(uow=SqlAccessUnitOfWork.factory(engine))

    def work(i: int) -> str:
        _key, token = access.create_key(by="t", role="auditor", name=f"k{i}")
        for _ in range(5):
            assert access.authenticate(token).role == "auditor"
        with session_scope(engine) as session:  # a session outside a unit of work
            assert session.get(ApiKeyRow, _key.id) is not None
        return token

    with ThreadPoolExecutor(max_workers=16) as pool:
        tokens = list(pool.map(work, range(96)))
    assert len(set(tokens)) == 96
    assert len(access.list_keys()) == 96
    engine.dispose()


def test_a_pooled_engine_needs_no_turns(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/pooled.db")
    with taking_turns(engine), taking_turns(engine):  # nothing held: free to nest anywhere
        pass
    engine.dispose()
