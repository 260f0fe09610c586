"""A real GlusterFS replica-3 volume, FUSE-mounted, for the integration tests.

``GlusterVolume(base).setup()`` does, idempotently and with every file of the
volume under ``base``:

* starts ``glusterd`` if none answers (``glusterd -N`` as our child, so we know
  its pid and stop exactly that process at the end; a glusterd that was already
  running is used and left running);
* makes ``127.0.0.2`` usable (glusterd refuses bricks named by 127.0.0.1; the
  whole 127.0.0.0/8 usually answers on ``lo`` already, else the address is added
  to ``lo`` and removed again at teardown);
* (re)creates the volume ``replica 3`` with three bricks on this host
  (``127.0.0.2:base/bricks/b1..b3``), ``network.ping-timeout`` of a few
  seconds and ``CONSISTENT_VOLUME_OPTIONS``, starts it;
* mounts it with FUSE (``mount -t glusterfs -o CONSISTENT_MOUNT_OPTIONS
  127.0.0.2:/NAME base/mnt``) and waits until a file written through the mount
  shows up on every brick.

The consistent options are what photomark's ``fs`` backend needs from a Gluster
volume shared by several machines (see below): the lab volume must have them.

Then: ``brick_pids()``, ``kill_brick(i)`` (SIGKILL), ``freeze_brick(i)`` /
``thaw_brick(pid)`` (SIGSTOP / SIGCONT), ``restart_bricks()``
(``gluster volume start NAME force``), ``heal_info_pending()``,
``wait_healed(timeout)``, and ``teardown()`` (unmount, stop and delete the
volume, stop our glusterd by pid, remove the bricks).  ``gluster_volume`` below
is the session fixture; it fails the session loudly (never skips) when Gluster
cannot be set up.

Needs the Debian packages ``glusterfs-server`` and ``glusterfs-client``, root,
and ``/dev/fuse``.  glusterd keeps its state in ``/var/lib/glusterd`` (there is
one glusterd per host), so two test sessions on one host at once would share
the volume name: use ``PHOTOMARK_TEST_GLUSTER_VOLUME`` to tell them apart.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import alive, wait_gone

HOST = "127.0.0.2"  # glusterd refuses bricks on 127.0.0.1 ("localhost")
DEFAULT_NAME = "photomark-test"
PING_TIMEOUT = 3  # seconds before a client gives up on a silent brick
# Options under which FsStorage's atomic replace (temp name + rename) holds for
# every client, measured here with 4 MiB objects replaced 174 times while readers
# on the writing client and on a second one read them: no error in ~3,600 reads.
# With Gluster's defaults instead, a reader's open() or read() of an object
# being replaced fails now and then with ESTALE or ENOENT (open-behind opens the
# file on the bricks only at the first read, when the name may point to a newer
# file already), and another client keeps serving the old version, or a deleted
# object, for up to a second (md-cache and the kernel's FUSE caches).
CONSISTENT_VOLUME_OPTIONS = {
    "performance.open-behind": "off",
    "performance.stat-prefetch": "off",  # md-cache: stat/xattr caching in the client
}
CONSISTENT_MOUNT_OPTIONS = "attribute-timeout=0,entry-timeout=0,negative-timeout=0"
GLUSTERD_PORT = 24007
START_TIMEOUT = 60.0
CLI_TIMEOUT = 60.0
GLUSTER_LOG_DIR = Path("/var/log/glusterfs")


class GlusterError(RuntimeError):
    """Gluster could not be set up or driven; the message carries the log tail."""


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def _option(pid: int, flag: str) -> str | None:
    """The value after ``flag`` on the command line of process ``pid``."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    for i, arg in enumerate(argv[:-1]):
        if arg == flag:
            return argv[i + 1]
    return None


def _can_bind(address: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError as error:
        return f"--- {path}: {error}"
    return f"--- {path}\n" + "\n".join(text)


class GlusterVolume:
    """One replica-3 volume of three bricks on this host, mounted under ``base``."""

    def __init__(
        self,
        base: str | os.PathLike[str],
        name: str | None = None,
        ping_timeout: int = PING_TIMEOUT,
        volume_options: dict[str, str] | None = None,
        mount_options: str = CONSISTENT_MOUNT_OPTIONS,
    ) -> None:
        self.base = Path(base).resolve()
        self.name = name or os.environ.get("PHOTOMARK_TEST_GLUSTER_VOLUME", DEFAULT_NAME)
        self.ping_timeout = ping_timeout
        self.volume_options = dict(CONSISTENT_VOLUME_OPTIONS if volume_options is None else volume_options)
        self.mount_options = mount_options
        self.brick_paths = [self.base / "bricks" / f"b{i}" for i in (1, 2, 3)]
        self.mount_path = self.base / "mnt"
        self.extra_mounts: list[Path] = []
        self.glusterd: subprocess.Popen[bytes] | None = None  # set only when WE started glusterd
        self.glusterd_pid: int | None = None
        self.added_address = False
        self.durations: dict[str, float] = {}

    # --- commands and logs ----------------------------------------------------------

    @property
    def bricks(self) -> list[str]:
        return [f"{HOST}:{path}" for path in self.brick_paths]

    def gluster(self, *args: str, check: bool = True, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run the gluster CLI non-interactively (``--mode=script`` answers every prompt yes)."""
        command = ["gluster", "--mode=script", *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as error:
            raise GlusterError(f"`{' '.join(command)}` did not finish in {timeout} s\n{self.log_tail()}") from error
        except FileNotFoundError as error:
            raise GlusterError(
                "the gluster CLI is not installed: apt-get install glusterfs-server glusterfs-client"
            ) from error
        if check and done.returncode != 0:
            raise GlusterError(
                f"`{' '.join(command)}` exited {done.returncode}: {done.stdout.strip()} {done.stderr.strip()}\n"
                f"{self.log_tail()}"
            )
        return done

    def xml(self, *args: str) -> ET.Element:
        done = self.gluster(*args, "--xml")
        try:
            root = ET.fromstring(done.stdout)
        except ET.ParseError as error:
            raise GlusterError(
                f"`gluster {' '.join(args)} --xml` printed no XML: {done.stdout!r} {done.stderr!r}"
            ) from error
        if root.findtext("opRet", "0") not in ("0", ""):
            raise GlusterError(f"`gluster {' '.join(args)}` failed: {root.findtext('opErrstr')}\n{self.log_tail()}")
        return root

    def _log_files(self) -> list[Path]:
        files = [self.base / "glusterd.log", self.base / "glusterd.out", self.base / "mount.log"]
        files += [self.base / f"mount-{path.name}.log" for path in self.extra_mounts]
        if self.glusterd is None:  # somebody else's glusterd logs where it was told to
            files.append(GLUSTER_LOG_DIR / "glusterd.log")
        files += [
            GLUSTER_LOG_DIR / "bricks" / (str(path).strip("/").replace("/", "-") + ".log") for path in self.brick_paths
        ]
        files.append(GLUSTER_LOG_DIR / "glustershd.log")
        return files

    def log_tail(self, lines: int = 25) -> str:
        return "\n".join(_tail(path, lines) for path in self._log_files() if path.exists()) or "(no gluster log yet)"

    # --- set-up -------------------------------------------------------------------

    def setup(self) -> GlusterVolume:
        """Everything from glusterd to a mount that answers; safe to call again."""
        for tool in ("gluster", "glusterd", "mount.glusterfs"):
            if shutil.which(tool) is None:
                raise GlusterError(f"{tool} not found: apt-get install glusterfs-server glusterfs-client")
        if not Path("/dev/fuse").exists():
            raise GlusterError("/dev/fuse does not exist: no FUSE mount possible here")
        self.base.mkdir(parents=True, exist_ok=True)
        self._ensure_address()
        started = time.monotonic()
        self._ensure_glusterd()
        self.durations["glusterd"] = time.monotonic() - started
        started = time.monotonic()
        self._ensure_volume()
        self.durations["volume"] = time.monotonic() - started
        started = time.monotonic()
        self._ensure_mounted(self.mount_path, self.base / "mount.log")
        self.durations["mount"] = time.monotonic() - started
        return self

    def _ensure_address(self) -> None:
        if _can_bind(HOST):
            return
        done = subprocess.run(
            ["ip", "addr", "add", f"{HOST}/32", "dev", "lo"], capture_output=True, text=True, check=False
        )
        if done.returncode != 0 or not _can_bind(HOST):
            raise GlusterError(f"{HOST} is not usable and `ip addr add {HOST}/32 dev lo` failed: {done.stderr.strip()}")
        self.added_address = True

    def glusterd_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", GLUSTERD_PORT), timeout=1.0):
                pass
        except OSError:
            return False
        return self.gluster("pool", "list", check=False, timeout=20).returncode == 0

    def _ensure_glusterd(self) -> None:
        if self.glusterd is not None and self.glusterd.poll() is None:
            return
        if self.glusterd_answers():
            return  # somebody else's: use it, leave it running
        with open(self.base / "glusterd.out", "ab") as out:
            self.glusterd = subprocess.Popen(
                [
                    "glusterd",
                    "-N",
                    "-p",
                    str(self.base / "glusterd.pid"),
                    "--log-file",
                    str(self.base / "glusterd.log"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a ^C of pytest does not reach it; teardown stops it
            )
        self.glusterd_pid = self.glusterd.pid
        deadline = time.monotonic() + START_TIMEOUT
        while not self.glusterd_answers():
            if self.glusterd.poll() is not None:
                code = self.glusterd.returncode
                self.glusterd = None
                raise GlusterError(f"glusterd exited {code} at start\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise GlusterError(
                    f"glusterd (pid {self.glusterd_pid}) did not answer in {START_TIMEOUT} s\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def volume_info(self) -> ET.Element | None:
        """The ``<volume>`` element of ``gluster volume info NAME --xml``, or None when there is none."""
        done = self.gluster("volume", "info", self.name, "--xml", check=False)
        try:
            root = ET.fromstring(done.stdout)
        except ET.ParseError:
            return None
        if root.findtext("opRet", "-1") != "0":
            return None
        return root.find("./volInfo/volumes/volume")

    def _ensure_volume(self) -> None:
        info = self.volume_info()
        if info is not None:
            bricks = [brick.findtext("name") for brick in info.findall("./bricks/brick")]
            if bricks != self.bricks:  # a leftover of an earlier session (other temp dir): ours to replace
                self._unmount_stale()
                self.gluster("volume", "stop", self.name, "force", check=False)
                self.gluster("volume", "delete", self.name)
                info = None
        if info is None:
            for path in self.brick_paths:  # a brick that belonged to a deleted volume is refused
                shutil.rmtree(path, ignore_errors=True)
                path.mkdir(parents=True)
            # `force`: the bricks share one host (and, for gluster, the root file system)
            self.gluster("volume", "create", self.name, "replica", "3", *self.bricks, "force")
        self.gluster("volume", "set", self.name, "network.ping-timeout", str(self.ping_timeout))
        for key, value in self.volume_options.items():
            self.gluster("volume", "set", self.name, key, value)
        self.gluster("volume", "start", self.name, "force")  # force: also (re)starts any dead brick
        self.wait_bricks_online(START_TIMEOUT)

    def _unmount_stale(self) -> None:
        """Unmount every FUSE mount of a volume of our name (left by an earlier session)."""
        source = f"{HOST}:/{self.name}"
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[0] == source and fields[2].startswith("fuse"):
                subprocess.run(["umount", "-l", fields[1]], capture_output=True, check=False)

    def mount(self, path: str | os.PathLike[str], options: str = "") -> Path:
        """A further FUSE mount of the volume (another client, as on another machine);
        ``options`` are more ``-o`` options of mount.glusterfs, e.g. ``attribute-timeout=0``."""
        path = Path(path)
        if path not in self.extra_mounts:
            self.extra_mounts.append(path)
        self._ensure_mounted(path, self.base / f"mount-{path.name}.log", options)
        return path

    def unmount(self, path: str | os.PathLike[str]) -> None:
        """Unmount a further mount made by ``mount`` (lazily if it is busy)."""
        path = Path(path)
        if os.path.ismount(path):
            done = subprocess.run(["umount", str(path)], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                subprocess.run(["umount", "-l", str(path)], capture_output=True, text=True, check=False)
        if path in self.extra_mounts:
            self.extra_mounts.remove(path)

    def set_option(self, key: str, value: str) -> None:
        """``gluster volume set NAME key value`` (every client switches to the new graph)."""
        self.gluster("volume", "set", self.name, key, value)

    def reset_option(self, key: str) -> None:
        """``gluster volume reset NAME key``: back to the default."""
        self.gluster("volume", "reset", self.name, key)

    def _ensure_mounted(self, path: Path, log: Path, options: str = "") -> None:
        path.mkdir(parents=True, exist_ok=True)
        if not os.path.ismount(path):
            options = ",".join(filter(None, [f"log-file={log}", options or self.mount_options]))
            done = subprocess.run(
                ["mount", "-t", "glusterfs", "-o", options, f"{HOST}:/{self.name}", str(path)],
                capture_output=True,
                text=True,
                timeout=CLI_TIMEOUT,
                check=False,
            )
            if done.returncode != 0 or not os.path.ismount(path):
                raise GlusterError(
                    f"mount -t glusterfs {HOST}:/{self.name} {path} exited {done.returncode}: "
                    f"{done.stdout.strip()} {done.stderr.strip()}\n{self.log_tail()}"
                )
        self.wait_mount_replicates(path, START_TIMEOUT)

    def wait_mount_replicates(self, path: Path | None = None, timeout: float = 30.0) -> None:
        """Until a file created through the mount lands on every brick, i.e. this
        client talks to all three bricks."""
        path = path or self.mount_path
        probe = f".probe-{uuid.uuid4().hex}"
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        try:
            while True:
                try:
                    (path / probe).write_bytes(b"probe")
                    if all((brick / probe).exists() for brick in self.brick_paths):
                        return
                    (path / probe).unlink()
                except OSError as error:  # ENOTCONN while the client connects
                    last_error = error
                if time.monotonic() > deadline:
                    raise GlusterError(
                        f"mount {path} does not reach every brick after {timeout} s (last error: {last_error})\n"
                        f"{self.log_tail()}"
                    )
                time.sleep(0.2)
        finally:
            with contextlib.suppress(OSError):
                (path / probe).unlink()

    def client_connected(self, path: Path | None = None) -> list[bool | None]:
        """Whether the FUSE client mounted at ``path`` is connected to each brick, in brick order, as
        the client itself says (its protocol/client xlators under ``.meta``): a client drops a dead
        brick at once and a hung one after ``network.ping-timeout``.  None where it cannot be read."""
        graph = (path or self.mount_path) / ".meta" / "graphs" / "active"
        states: list[bool | None] = []
        for index in range(len(self.brick_paths)):
            try:
                private = (graph / f"{self.name}-client-{index}" / "private").read_text()
            except OSError:
                states.append(None)
                continue
            values = dict(line.replace(" ", "").split("=", 1) for line in private.splitlines() if "=" in line)
            states.append({"1": True, "0": False}.get(values.get("connected", "")))
        return states

    # --- bricks -------------------------------------------------------------------

    def brick_status(self) -> list[tuple[bool, int | None]]:
        """(online, pid) of each brick, in brick order, from ``gluster volume status NAME --xml``."""
        root = self.xml("volume", "status", self.name)
        by_path: dict[str, tuple[bool, int | None]] = {}
        for node in root.iterfind("./volStatus/volumes/volume/node"):
            key = f"{node.findtext('hostname')}:{node.findtext('path')}"
            online = node.findtext("status") == "1"
            try:
                pid: int | None = int(node.findtext("pid") or "")
            except ValueError:
                pid = None
            by_path[key] = (online, pid if pid and pid > 0 else None)
        return [by_path.get(brick, (False, None)) for brick in self.bricks]

    def brick_pids(self) -> list[int | None]:
        """Pid of each brick process (None for a brick that is down), in brick order."""
        return [pid if online and pid is not None and alive(pid) else None for online, pid in self.brick_status()]

    def wait_bricks_online(self, timeout: float = 30.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while True:
            pids = self.brick_pids()
            if all(pids):
                return [pid for pid in pids if pid]
            if time.monotonic() > deadline:
                raise GlusterError(f"bricks not all online after {timeout} s: {pids}\n{self.log_tail()}")
            time.sleep(0.2)

    def kill_brick(self, index: int) -> int:
        """SIGKILL brick ``index`` (0, 1 or 2) by its pid; returns the pid once it is dead."""
        pid = self.brick_pids()[index]
        if pid is None:
            raise GlusterError(f"brick {index} ({self.bricks[index]}) is not running")
        pidfile = _option(pid, "-p")
        os.kill(pid, signal.SIGKILL)
        if not wait_gone(pid, 10.0):
            raise GlusterError(f"brick pid {pid} survived SIGKILL")
        # A brick daemonizes, so its parent is PID 1, and a sandbox's PID 1 may reap it
        # only much later.  glusterd takes a brick whose pidfile names a pid that
        # still has /proc/PID/cmdline (a zombie has) for running, and then
        # `volume start force` does not start it again.  The process is dead: drop
        # its pidfile, as a reboot would.
        if pidfile and Path(f"/proc/{pid}").exists():
            with contextlib.suppress(FileNotFoundError):
                Path(pidfile).unlink()
        return pid

    def freeze_brick(self, index: int) -> int:
        """SIGSTOP brick ``index``: its connections stay open but it answers nothing,
        like a hung server, so clients give up on it only after ``network.ping-timeout``."""
        pid = self.brick_pids()[index]
        if pid is None:
            raise GlusterError(f"brick {index} ({self.bricks[index]}) is not running")
        os.kill(pid, signal.SIGSTOP)
        return pid

    def thaw_brick(self, pid: int) -> None:
        """SIGCONT a brick frozen by ``freeze_brick``."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)

    def restart_bricks(self, timeout: float = 30.0) -> list[int]:
        """``gluster volume start NAME force``: starts every dead brick again; waits until all are online."""
        self.gluster("volume", "start", self.name, "force")
        return self.wait_bricks_online(timeout)

    # --- self-heal ------------------------------------------------------------------

    def heal_info(self) -> list[tuple[str, str, int | None]]:
        """(brick, status, entries pending heal) from ``gluster volume heal NAME info``;
        entries is None when the brick cannot be asked (it is down)."""
        root = self.xml("volume", "heal", self.name, "info")
        result = []
        for brick in root.iterfind("./healInfo/bricks/brick"):
            try:
                entries: int | None = int(brick.findtext("numberOfEntries") or "")
            except ValueError:
                entries = None
            result.append((brick.findtext("name") or "", brick.findtext("status") or "", entries))
        return result

    def heal_info_pending(self) -> int | None:
        """Entries pending heal over every brick; None while a brick cannot be asked."""
        info = self.heal_info()
        if len(info) != 3 or any(entries is None or status != "Connected" for _, status, entries in info):
            return None
        return sum(entries or 0 for _, _, entries in info)

    def wait_healed(self, timeout: float = 60.0) -> float:
        """Until every brick answers and nothing is pending heal; returns the seconds it took.
        Nudges the self-heal daemon (``gluster volume heal NAME``) every few seconds."""
        started = time.monotonic()
        nudged = 0.0
        pending: int | None = None
        while True:
            now = time.monotonic()
            if now - nudged > 5.0:
                self.gluster("volume", "heal", self.name, check=False)  # index heal now, not at cluster.heal-timeout
                nudged = now
            pending = self.heal_info_pending()
            if pending == 0:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise GlusterError(
                    f"still {pending} entries pending heal after {timeout} s: {self.heal_info()}\n{self.log_tail()}"
                )
            time.sleep(0.5)

    # --- teardown -------------------------------------------------------------------

    def teardown(self) -> None:
        """Unmount (lazily if busy), stop and delete the volume, stop glusterd if we
        started it (by pid), remove the bricks.  Goes on past errors, raises the first."""
        errors: list[str] = []
        for path in [*self.extra_mounts, self.mount_path]:
            if os.path.ismount(path):
                done = subprocess.run(["umount", str(path)], capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    done = subprocess.run(["umount", "-l", str(path)], capture_output=True, text=True, check=False)
                    if done.returncode != 0:
                        errors.append(f"umount -l {path}: {done.stderr.strip()}")
        if self.glusterd is not None or self.glusterd_answers():
            try:
                if self.volume_info() is not None:
                    self.gluster("volume", "stop", self.name, "force", check=False)
                    self.gluster("volume", "delete", self.name)
            except GlusterError as error:
                errors.append(str(error))
        if self.glusterd is not None:
            pid = self.glusterd.pid
            deadline = time.monotonic() + 10.0  # let the post-delete hook scripts finish talking to it
            while _children(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            with contextlib.suppress(ProcessLookupError):
                self.glusterd.send_signal(signal.SIGTERM)
            try:
                self.glusterd.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.glusterd.kill()
                self.glusterd.wait(10)
            self.glusterd = None
        for path in self.brick_paths:
            shutil.rmtree(path, ignore_errors=True)
        if self.added_address:
            subprocess.run(["ip", "addr", "del", f"{HOST}/32", "dev", "lo"], capture_output=True, check=False)
            self.added_address = False
        if errors:
            raise GlusterError("teardown: " + "; ".join(errors))


@pytest.fixture(scope="session")
def gluster_volume(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlusterVolume]:
    """A mounted replica-3 volume for the whole session, torn down at its end also
    when tests fail.  Fails, never skips, when Gluster cannot be set up."""
    volume = GlusterVolume(tmp_path_factory.mktemp("gluster"))
    failure = None
    try:
        volume.setup()
    except Exception as error:  # noqa: BLE001 - every cause is reported, with the logs
        failure = str(error) if isinstance(error, GlusterError) else f"{error!r}\n{volume.log_tail()}"
        with contextlib.suppress(Exception):
            volume.teardown()
    if failure is not None:
        pytest.fail(f"GlusterFS volume could not be set up: {failure}", pytrace=False)
    try:
        yield volume
    finally:
        volume.teardown()
