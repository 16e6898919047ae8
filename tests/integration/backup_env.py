# -*- coding: utf-8 -*-
"""What the backup integration tests run against, all real and all local:

* restic from Debian (installed with apt when missing);
* :class:`Stack`: one Compose project per test module with PostgreSQL, MariaDB and Redis servers
  (the stacks' images from ``make images``: Debian's packages) and a volume standing in for Gitea's
  data, configured like the lab's FetcherPay stack, with the known rows, keys and repository;
* :class:`Host`: the role's layout in a temporary directory (the entry point beside a copy of the
  module_utils, credentials 0600, state, cache, textfile directory) and the configuration file,
  run with Debian's python3 and ONLY python3-prometheus-client (what the role installs).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import yaml

from tests import certs_factory
from tests.kube.playbook import run_playbook

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "backup"
ENTRY = ROOT / "roles" / "backup" / "files" / "squaremcp_backup.py"
# What the role installs beside the entry point (so a module_utils file the role forgets fails here too).
MODULE_UTILS = yaml.safe_load((ROOT / "roles" / "backup" / "vars" / "main.yml").read_text())["__backup_module_utils"]
DEBIAN_PACKAGES = ["python3-prometheus-client", "python3-decorator"]
SECRETS = {"postgres_password": "pg-test-only", "mariadb_root_password": "maria-test-only", "redis_password": "redis-pw"}
IMAGES = ["squaremcp/stack-postgres:current", "squaremcp/stack-mariadb:current", "squaremcp/stack-redis:current",
          "squaremcp/stack-app:current"]
ROWS = 25


def ensure_restic() -> str:
    found = shutil.which("restic")
    if found:
        return found
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "restic"]
    if subprocess.run(install, capture_output=True, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, check=False)
        done = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError("cannot install Debian's restic: %s" % done.stderr[-500:])
    return shutil.which("restic")


def check_images() -> None:
    missing = [image for image in IMAGES
               if subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False).returncode != 0]
    if missing:
        raise RuntimeError("%s missing: run `make images` first" % ", ".join(missing))


def run(argv, input=None, check=True, timeout=300) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, input=input, capture_output=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(argv), done.returncode, done.stderr.decode(errors="replace")))
    return done


class Stack(object):
    """The Compose project of the session."""

    def __init__(self, workdir: Path):
        self.project = "sqbackup-%d" % os.getpid()
        self.secrets = workdir / "secrets"
        self.secrets.mkdir(parents=True)
        for name, value in SECRETS.items():
            (self.secrets / name).write_text(value)
        check_images()
        self.env = dict(os.environ, SQB_PROJECT=self.project, SQB_SECRETS=str(self.secrets))

    def compose(self, *args, check=True) -> subprocess.CompletedProcess:
        done = subprocess.run(["docker", "compose", "-f", str(FIXTURES / "compose.yml")] + list(args), env=self.env,
                              capture_output=True, text=True, timeout=300, check=False)
        if check and done.returncode != 0:
            raise AssertionError("docker compose %s: %s" % (" ".join(args), done.stderr))
        return done

    def up(self) -> None:
        self.compose("up", "-d", "--wait")

    def down(self) -> None:
        self.compose("down", "--volumes", "--timeout", "2", check=False)

    def container(self, service: str) -> str:
        return "%s-%s-1" % (self.project, service)

    def exec(self, service: str, argv: List[str], user: str = "", input: Optional[bytes] = None, check=True):
        return run(["docker", "exec"] + (["-i"] if input is not None else []) + (["--user", user] if user else [])
                   + [self.container(service)] + argv, input=input, check=check)

    def psql(self, sql: str, database: str = "app") -> str:
        return self.exec("postgres", ["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-U", "owner", "-d", database],
                         user="postgres", input=sql.encode()).stdout.decode().strip()

    def mariadb(self, sql: str) -> str:
        return self.exec("mariadb", ["sh", "-c", 'MYSQL_PWD="$(cat /run/secrets/mariadb_root_password)" exec mariadb -uroot -N -B'],
                         input=sql.encode()).stdout.decode().strip()

    def redis(self, *args: str) -> str:
        return self.exec("redis", ["sh", "-c", 'REDISCLI_AUTH=redis-pw redis-cli "$@"', "sh"] + list(args)).stdout.decode().strip()

    def volume(self) -> Path:
        out = run(["docker", "volume", "inspect", "-f", "{{.Mountpoint}}", "%s_gitea-data" % self.project]).stdout
        return Path(out.decode().strip())

    def seed(self) -> None:
        """The known data: rows in PostgreSQL and MariaDB, keys in Redis, a git repository in the volume."""
        self.psql("DROP DATABASE IF EXISTS app;", database="postgres")
        self.psql("CREATE DATABASE app;", database="postgres")
        self.psql("CREATE TABLE payments (id int PRIMARY KEY, amount_cents int, note text);"
                  "INSERT INTO payments SELECT g, g * 100, 'payment ' || g FROM generate_series(1, %d) g;" % ROWS)
        self.mariadb("DROP DATABASE IF EXISTS shop; CREATE DATABASE shop; CREATE TABLE shop.orders (id int PRIMARY KEY, "
                     "item varchar(40)); INSERT INTO shop.orders VALUES (1, 'keyboard'), (2, 'mouse'), (3, 'screen');")
        self.redis("FLUSHALL")
        self.redis("SET", "session:42", "alice")
        self.redis("-n", "1", "SET", "rate:api", "7")
        data = self.volume()
        for child in data.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        repo = data / "git" / "repositories" / "ops" / "infra.git"
        run(["git", "init", "-q", "--bare", str(repo)])
        work = data.parent / "work"
        shutil.rmtree(work, ignore_errors=True)
        run(["git", "clone", "-q", str(repo), str(work)])
        (work / "README.md").write_text("drill\n")
        run(["git", "-C", str(work), "add", "README.md"])
        run(["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "drill"])
        run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:main"])
        shutil.rmtree(work)

    def state(self) -> Dict[str, object]:
        """Everything the tests compare before and after: rows, keys, files."""
        files = {}
        for path in sorted(self.volume().rglob("*")):
            if path.is_file():
                files[str(path.relative_to(self.volume()))] = hashlib.sha256(path.read_bytes()).hexdigest()
        payments = None
        if self.psql("SELECT 1 FROM pg_database WHERE datname = 'app';", database="postgres") and \
                self.psql("SELECT to_regclass('public.payments') IS NOT NULL;") == "t":
            payments = self.psql("SELECT count(*), coalesce(sum(amount_cents), 0) FROM payments;")
        return {"payments": payments,
                "orders": self.mariadb("SELECT group_concat(item ORDER BY id) FROM shop.orders;")
                if self.mariadb("SHOW DATABASES LIKE 'shop';") else None,
                "keys": sorted(self.redis("KEYS", "*").split() + self.redis("-n", "1", "KEYS", "*").split()),
                "files": files}

    def sources(self, *names: str) -> List[dict]:
        every = {
            "app-postgres": {"type": "postgres", "project": self.project, "service": "postgres", "databases": ["app"],
                             "user": "owner"},
            "shop-mariadb": {"type": "mariadb", "project": self.project, "service": "mariadb", "databases": ["shop"],
                             "user": "root", "password_file": "/run/secrets/mariadb_root_password"},
            "cache-redis": {"type": "redis", "project": self.project, "service": "redis",
                            "password_file": "/run/secrets/redis_password"},
            "gitea-data": {"type": "volume", "volume": "%s_gitea-data" % self.project, "verify": "git"},
        }
        return [dict(every[name], name=name) for name in (names or every)]


class Host(object):
    """The backup role's files on a host, in ``root``."""

    def __init__(self, root: Path):
        self.root = root
        for name in ("credentials", "state", "cache", "textfile", "repos", "install/lib/ansible_collections/squaremcp/infra/plugins/module_utils"):
            (root / name).mkdir(parents=True, exist_ok=True)
        lib = root / "install" / "lib" / "ansible_collections" / "squaremcp" / "infra" / "plugins" / "module_utils"
        for name in MODULE_UTILS:
            shutil.copy(ROOT / "plugins" / "module_utils" / name, lib / name)
        shutil.copy(ENTRY, root / "install" / ENTRY.name)
        self.config_path = root / "backup.json"
        self.metrics_path = root / "textfile" / "squaremcp_backup.prom"
        self.python, self.python_env = certs_factory.debian_python3(DEBIAN_PACKAGES, "import prometheus_client")

    def credential(self, name: str, value: str) -> None:
        path = self.root / "credentials" / name
        path.write_text(value)
        path.chmod(0o600)

    def repository(self, name: str, url: Optional[str] = None, password: Optional[str] = None) -> dict:
        self.credential(name + "-password", password or "restic-%s-test-only" % name)
        return {"name": name, "url": url or str(self.root / "repos" / name), "password": name + "-password"}

    def configure(self, repositories: List[dict], sources: List[dict], **extra) -> dict:
        config = {"host": "sq-test-1", "repositories": repositories, "sources": sources,
                  "credentials_dir": str(self.root / "credentials"), "state_dir": str(self.root / "state"),
                  "cache_dir": str(self.root / "cache"), "metrics_path": str(self.metrics_path), "lock_timeout": 5,
                  "retention": {"daily": 7, "weekly": 4, "monthly": 6}, "command_timeout": 120}
        config.update(extra)
        self.config_path.write_text(json.dumps(config, indent=1))
        return config

    def entry(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        return subprocess.run(self.python + [str(self.root / "install" / ENTRY.name), "--config", str(self.config_path)]
                              + list(args), env=dict(os.environ, **self.python_env), capture_output=True, text=True,
                              timeout=timeout, check=False)

    def metrics(self) -> Dict[str, Dict[str, float]]:
        """``{metric name without prefix: {repository: value}}`` of the textfile."""
        out: Dict[str, Dict[str, float]] = {}
        for line in self.metrics_path.read_text().splitlines():
            if line.startswith("squaremcp_backup_"):
                name, value = line.rsplit(" ", 1)
                metric, _brace, labels = name.partition("{")
                out.setdefault(metric[len("squaremcp_backup_"):], {})[labels.split('"')[1]] = float(value)
        return out

    def restic(self, repository: dict, *args: str, check=True) -> subprocess.CompletedProcess:
        env = dict(os.environ, RESTIC_REPOSITORY=repository["url"], TZ="UTC",
                   RESTIC_PASSWORD_FILE=str(self.root / "credentials" / repository["password"]),
                   RESTIC_CACHE_DIR=str(self.root / "cache" / "assert"))
        done = subprocess.run(["restic"] + list(args), env=env, capture_output=True, text=True, timeout=300, check=False)
        if check and done.returncode != 0:
            raise AssertionError("restic %s: %s" % (" ".join(args), done.stderr))
        return done

    def snapshots(self, repository: dict, *tags: str) -> List[dict]:
        args = ["snapshots", "--json"] + (["--tag", ",".join(tags)] if tags else [])
        return json.loads(self.restic(repository, *args).stdout or "[]")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The module's Compose project (import this fixture into a test module)."""
    ensure_restic()
    project = Stack(tmp_path_factory.mktemp("backup-stack"))
    project.up()
    yield project
    project.down()


@pytest.fixture
def host(stack, tmp_path):  # pylint: disable=redefined-outer-name
    """A fresh host layout; the stack holds the known data again."""
    stack.seed()
    return Host(tmp_path / "host")


def restore(host, tmp_path, check=False, diff=False, **options):  # pylint: disable=redefined-outer-name
    """restic_restore through ansible-playbook on localhost; its result."""
    task = {"name": "restic_restore", "squaremcp.infra.restic_restore": dict(config=str(host.config_path), **options),
            "register": "out", "ignore_errors": True}
    return run_playbook(None, tmp_path, [task], check=check, diff=diff).task(0)
