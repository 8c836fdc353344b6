"""A local Citus cluster for the tests: a coordinator and two workers, three
PostgreSQL 15 servers on this machine with Citus built from the source
archive in ../shared/third_party/ (no registry here packages Citus for
Debian 12's PostgreSQL 15). The build is cached outside the checkout, so
it is done once per machine. CITUS_DATABASE_URL names an existing cluster
instead: then nothing is built or started.

    python3 tests/citus_cluster.py build|start|url|stop

start leaves a cluster running (its directory recorded in the cache) for
url and stop; tests use start() and Cluster.stop() from Python. Anything
missing (no apt, no archive, a failed build) raises Unavailable with the
reason, which the tests skip with.
"""

from __future__ import annotations

import fcntl
import filecmp
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import List, Optional, Tuple

CITUS_VERSION = "13.2.2"
PG_BIN = "/usr/lib/postgresql/15/bin"
PG_CONFIG = os.path.join(PG_BIN, "pg_config")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHIVE = os.environ.get("CITUS_SOURCE_ARCHIVE") or os.path.join(
    os.path.dirname(ROOT), "shared", "third_party", f"citus-{CITUS_VERSION}.tar.gz")
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pg-bulk-ingest-go")
# Set by tests/run.py when it could not make a cluster: every later test
# process skips with the same reason instead of trying again.
UNAVAILABLE_ENV = "PBI_CITUS_UNAVAILABLE"
WORKERS = 2
# Debian's package names: the server, and what building Citus needs.
SERVER_PACKAGE = "postgresql-15"
BUILD_PACKAGES = [
    "postgresql-server-dev-15", "libcurl4-openssl-dev", "liblz4-dev", "libzstd-dev", "libkrb5-dev", "libssl-dev",
    "libselinux1-dev", "libxslt1-dev", "libpam0g-dev", "libreadline-dev", "zlib1g-dev", "libicu-dev", "autoconf",
    "flex", "bison", "make", "gcc",
]


class Unavailable(Exception):
    """No cluster can be had here; the message says why."""


def log(message: str) -> None:
    print(f"citus_cluster: {message}", file=sys.stderr, flush=True)


def installed_version(package: str) -> Optional[str]:
    result = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Version}", package],
                            capture_output=True, text=True)
    status, version = result.stdout[:3], result.stdout[3:].strip()  # e.g. "ii 15.20-0+deb12u1"
    return version if result.returncode == 0 and status.startswith("ii") else None


def apt_install(packages: List[str]) -> None:
    if shutil.which("apt-get") is None or shutil.which("dpkg-query") is None:
        raise Unavailable(f"no apt-get here to install {' '.join(packages)}")
    if os.geteuid() != 0:
        raise Unavailable(f"not root, cannot apt-get install {' '.join(packages)}")
    log(f"apt-get install {' '.join(packages)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    command = ["apt-get", "install", "-y", "-qq", *packages]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:  # the package lists may be missing on a fresh machine
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env)
        result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise Unavailable(f"apt-get install failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")


def ensure_packages() -> str:
    """Installs PostgreSQL 15 and the build deps that are missing; returns
    the server's version. The headers are pinned to the installed server:
    an unpinned install would upgrade the server under running clusters."""
    if shutil.which("dpkg-query") is None:
        raise Unavailable("not a Debian system (no dpkg-query): cannot install PostgreSQL 15 and Citus's build deps")
    if installed_version(SERVER_PACKAGE) is None:
        apt_install([SERVER_PACKAGE])
    server = installed_version(SERVER_PACKAGE)
    assert server is not None
    missing = [p for p in BUILD_PACKAGES if installed_version(p) is None]
    headers = installed_version("postgresql-server-dev-15")
    if headers is not None and headers != server:
        missing.append("postgresql-server-dev-15")
    if missing:
        apt_install([f"{p}={server}" if p == "postgresql-server-dev-15" else p for p in missing])
    return server


def pg_version() -> str:
    """The server's version, e.g. 15.20."""
    return subprocess.run([PG_CONFIG, "--version"], capture_output=True, text=True, check=True).stdout.split()[1]


def build_dir() -> str:
    return os.path.join(CACHE, f"citus-{CITUS_VERSION}-pg{pg_version()}")


def patch_headers(source: str) -> None:
    """PostgreSQL 15.20 exports have_createdb_privilege, for which Citus
    keeps a static fallback on 15: rename the fallback."""
    path = os.path.join(source, "src", "include", "pg_version_compat.h")
    with open(path) as f:
        text = f.read()
    definition = "static inline bool\nhave_createdb_privilege(void)"
    if text.count(definition) != 1:
        raise Unavailable(f"{path}: the definition of have_createdb_privilege to rename is not there once")
    with open(path, "w") as f:
        f.write(text.replace(definition, "#define have_createdb_privilege citus_have_createdb_privilege\n" + definition))


def build() -> str:
    """Citus built from the archive, once per machine and server version;
    returns its source directory (make install runs there)."""
    directory = build_dir()
    source = os.path.join(directory, f"citus-{CITUS_VERSION}")
    done = os.path.join(directory, "built")
    os.makedirs(directory, exist_ok=True)
    # One build at a time: concurrent test processes wait for the first.
    with open(os.path.join(directory, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(done):
            return source
        if not os.path.exists(ARCHIVE):
            raise Unavailable(f"no Citus source archive at {ARCHIVE} (set CITUS_SOURCE_ARCHIVE)")
        started = time.time()
        log(f"building Citus {CITUS_VERSION} into {directory} (once per machine: about 4 minutes on 2 cores)")
        shutil.rmtree(source, ignore_errors=True)
        with tarfile.open(ARCHIVE) as archive:
            # The "data" filter where this Python has it (3.11.4 and later): plain files only.
            archive.extractall(directory, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        patch_headers(source)
        build_log = os.path.join(directory, "build.log")
        with open(build_log, "w") as out:
            for step in (["./configure", f"PG_CONFIG={PG_CONFIG}"], ["make", f"-j{os.cpu_count() or 2}"]):
                if subprocess.run(step, cwd=source, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                    raise Unavailable(f"building Citus failed at {' '.join(step)}: see {build_log}")
        with open(done, "w") as f:
            f.write(f"{time.time() - started:.0f}s\n")
        log(f"built Citus in {time.time() - started:.0f}s")
    return source


def install(source: str) -> None:
    """make install, unless the server's libdir has this build's citus.so."""
    libdir = subprocess.run([PG_CONFIG, "--pkglibdir"], capture_output=True, text=True, check=True).stdout.strip()
    built = os.path.join(source, "src", "backend", "distributed", "citus.so")
    target = os.path.join(libdir, "citus.so")
    if os.path.exists(target) and filecmp.cmp(built, target, shallow=False):
        return
    if not os.access(libdir, os.W_OK):
        raise Unavailable(f"cannot write {libdir} to install citus.so (run as root once)")
    result = subprocess.run(["make", "install"], cwd=source, capture_output=True, text=True)
    if result.returncode != 0:
        raise Unavailable(f"make install of Citus failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")


def prepare() -> None:
    """Everything a cluster needs on this machine: packages, build, install."""
    ensure_packages()
    install(build())


def as_owner(command: List[str], timeout: float) -> Tuple[int, str]:
    """Runs a server command as the postgres OS user when root (the server
    refuses to run as root); returns its exit code and output."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    # Output to a file, not a pipe: a server that pg_ctl starts may keep a
    # pipe open, and reading it would never end.
    with tempfile.TemporaryFile("w+") as out:
        code = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                              timeout=timeout).returncode
        out.seek(0)
        return code, out.read().strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A running cluster: its coordinator's URL; stop() stops and deletes
    one that start() made (nothing for CITUS_DATABASE_URL's)."""

    def __init__(self, url: str, directory: Optional[str] = None) -> None:
        self.url, self.directory = url, directory

    def stop(self) -> None:
        if self.directory is None:
            return
        for name in sorted(os.listdir(self.directory)):
            data = os.path.join(self.directory, name)
            if os.path.exists(os.path.join(data, "postmaster.pid")):
                as_owner([os.path.join(PG_BIN, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"], 120)
        shutil.rmtree(self.directory, ignore_errors=True)


def psql(port: int, sql: str) -> None:
    code, output = as_owner([os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                             "-p", str(port), "-U", "postgres", "-d", "postgres", "-c", sql], 120)
    if code != 0:
        raise Unavailable(f"{sql} on port {port} failed: {output}")


def start_node(directory: str, name: str) -> int:
    """Initialises and starts one server with Citus preloaded; returns its port."""
    data = os.path.join(directory, name)
    code, output = as_owner([os.path.join(PG_BIN, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                             "--no-sync", "-E", "UTF8", "--locale=C"], 300)
    if code != 0:
        raise Unavailable(f"initdb failed: {output}")
    port = free_port()
    settings = {
        "port": port, "listen_addresses": "'127.0.0.1'", "unix_socket_directories": f"'{directory}'",
        "shared_preload_libraries": "'citus'", "max_connections": 200,
        "citus.enable_statistics_collection": "off",  # no calls home from tests
        "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",  # throwaway data
    }
    with open(os.path.join(data, "postgresql.auto.conf"), "a") as f:
        f.writelines(f"{key} = {value}\n" for key, value in settings.items())
    code, output = as_owner([os.path.join(PG_BIN, "pg_ctl"), "-D", data, "-l", os.path.join(data, "log"), "-w",
                             "start"], 120)
    if code != 0:
        raise Unavailable(f"starting the {name} server failed: {output}")
    psql(port, "CREATE EXTENSION citus")
    return port


def start() -> Cluster:
    """CITUS_DATABASE_URL's cluster, else a new one: builds and installs
    Citus first when needed."""
    url = os.environ.get("CITUS_DATABASE_URL")
    if url:
        return Cluster(url)
    if os.environ.get(UNAVAILABLE_ENV):
        raise Unavailable(os.environ[UNAVAILABLE_ENV])
    prepare()
    directory = tempfile.mkdtemp(prefix="pbi-citus-")
    cluster = Cluster("", directory)
    try:
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
        ports = [start_node(directory, name) for name in ["coordinator", *(f"worker{i}" for i in range(WORKERS))]]
        psql(ports[0], f"SELECT citus_set_coordinator_host('127.0.0.1', {ports[0]})")
        for port in ports[1:]:
            psql(ports[0], f"SELECT citus_add_node('127.0.0.1', {port})")
    except BaseException:
        cluster.stop()
        raise
    cluster.url = f"postgresql://postgres@127.0.0.1:{ports[0]}/postgres"
    return cluster


# The cluster that `start` from the command line leaves running.
STATE = os.path.join(CACHE, "citus-cluster")


def main(command: str) -> int:
    try:
        if command == "build":
            prepare()
        elif command == "start":
            started = time.time()
            cluster = start()
            if cluster.directory is not None:
                with open(STATE, "w") as f:
                    f.write(f"{cluster.url}\n{cluster.directory}\n")
            log(f"cluster ready in {time.time() - started:.1f}s")
            print(cluster.url)
        elif command == "url":
            if os.environ.get("CITUS_DATABASE_URL"):
                print(os.environ["CITUS_DATABASE_URL"])
            elif os.path.exists(STATE):
                print(open(STATE).readline().strip())
            else:
                raise Unavailable("no cluster running: python3 tests/citus_cluster.py start")
        elif command == "stop":
            if os.path.exists(STATE):
                url, directory = open(STATE).read().split()
                Cluster(url, directory).stop()
                os.remove(STATE)
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Unavailable as e:
        log(f"unavailable: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) == 2 else ""))
