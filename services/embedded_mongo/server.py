"""Start mongoeco's MongoDB wire server on a loopback port, in memory or persisted to SQLite."""

from pathlib import Path

from mongoeco.engines.memory import MemoryEngine
from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.wire import AsyncMongoEcoProxyServer


def build_server(*, host: str, port: int, data_dir: Path | None) -> AsyncMongoEcoProxyServer:
    """In memory when ``data_dir`` is None; otherwise one SQLite file that survives restarts."""
    if data_dir is None:
        engine = MemoryEngine()
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        engine = SQLiteEngine(str(data_dir / "langnghe.sqlite3"))
    return AsyncMongoEcoProxyServer(engine=engine, host=host, port=port)
