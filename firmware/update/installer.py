"""The firmware installer service (chargepi-update.service): installs verified bundles without root and
without network, switches to them atomically and rolls back a version that does not come up.

It runs as its own unprivileged user (`chargepi-update`), never as the controller's user and never as root,
with the code of the release that is running now (the new release's code is not trusted until it ran).
Exchange with the controller goes through files in its state directory (default /var/lib/chargepi-update):

    incoming/<name>.bundle   the controller drops a downloaded bundle (written elsewhere, then renamed)
    results/<name>.json      the answer: {"state": "prepared" | "refused" | "failed", "version", "problem",
                             "message"}; "prepared" = the new release is built and waits for activation
                             (kept a week)
    incoming/activate        the controller asks to switch to a prepared version (the file holds it), once
                             no charging session runs
    incoming/confirm         the new release says it is running and connected to its CSMS (holds its version)
    trial.json               the switch in progress: version, previous version, deadline
    work/                    private: bundles being checked, wheels being installed

A bundle is moved into work/ first (out of the controller's reach), checked completely by
`firmware.update.bundle.verify_bundle` against the manufacturer roots, and installed into
`<prefix>/releases/<version>` by `pip install --no-index --require-hashes --only-binary :all:` in isolated
mode (no configuration files, no index, no network, no build step: wheels only, each pinned by the SHA-256
the signed manifest names). A release that cannot even print its version is refused. The venv is built
where it will run (its scripts name their interpreter by absolute path, so it cannot be moved); the marker
file `.complete`, written last, says it is whole, and only a complete release is ever switched to.

Activation switches `<prefix>/current` (a symlink) with one rename, records the trial and makes the
controller restart by sending its processes SIGTERM (systemd restarts it with `Restart=always`; the unit
grants only CAP_KILL for that). If `incoming/confirm` with the new version does not arrive within the
confirmation timeout, `current` goes back to the previous release and the controller is restarted again.
A trial interrupted by a reboot is finished at the next start (the unit also runs at boot). The previous
releases are kept (the newest `--keep`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from firmware.update.bundle import BundleError, verify_bundle
from firmware.update.signing import SignatureProblem, load_revocations, load_roots

log = logging.getLogger("chargepi.update")

BUNDLE_SUFFIX = ".bundle"
COMPLETE = ".complete"  # in a release directory: the release is whole
RESULTS_KEPT_S = 7 * 86400
PIP_TIMEOUT_S = 1800.0


def write_json(path: Path, data: dict[str, Any], mode: int = 0o640) -> None:
    """Atomically replace `path` (readable by the controller's group)."""
    tmp = path.with_name(path.name + ".tmp")
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with open(descriptor, "w", encoding="utf-8") as out:
        json.dump(data, out)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


@dataclass
class Installer:
    state: Path
    prefix: Path  # /opt/chargepi: releases/ and the `current` symlink
    roots: list[Path]
    python: str  # the interpreter new virtual environments are made from
    confirm_timeout_s: float
    controller_procs: Path  # the controller's cgroup.procs: the processes a restart signals
    allow_unsigned: bool = False
    keep: int = 3
    poll_s: float = 1.0
    now: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    @property
    def incoming(self) -> Path:
        return self.state / "incoming"

    @property
    def results(self) -> Path:
        return self.state / "results"

    @property
    def work(self) -> Path:
        return self.state / "work"

    @property
    def trial_path(self) -> Path:
        return self.state / "trial.json"

    @property
    def releases(self) -> Path:
        return self.prefix / "releases"

    def current(self) -> str | None:
        link = self.prefix / "current"
        return Path(os.readlink(link)).name if link.is_symlink() else None

    def run(self) -> None:
        """Finish a pending trial, then serve the incoming directory until nothing is left to do."""
        for directory in (self.incoming, self.results):
            directory.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.allow_unsigned:
            log.warning("DEVELOPMENT SWITCH --allow-unsigned IS ON: UNSIGNED FIRMWARE BUNDLES ARE INSTALLED. "
                        "Never ship a charger like this.")
        for old in self.results.iterdir():  # the controller read them long ago
            if old.stat().st_mtime < self.now() - RESULTS_KEPT_S:
                old.unlink()
        if self.trial_path.exists():
            self._finish_trial()
        while True:
            bundles = sorted((p for p in self.incoming.iterdir() if p.name.endswith(BUNDLE_SUFFIX)),
                             key=lambda p: p.stat().st_mtime)
            for bundle in bundles:
                self.prepare(bundle)
            activate = self.incoming / "activate"
            if activate.exists():
                version = _read_text(activate)
                activate.unlink()
                if version:
                    self.activate(version)
                continue
            for stray in self.incoming.iterdir():  # a stale confirm, or anything else: it would retrigger us
                if not stray.name.endswith(BUNDLE_SUFFIX):
                    log.warning("removing unexpected %s", stray)
                    shutil.rmtree(stray) if stray.is_dir() and not stray.is_symlink() else stray.unlink()
            if not bundles:
                return

    # ---- preparing a release ------------------------------------------------------------------------
    def prepare(self, incoming: Path) -> None:
        name = incoming.name[: -len(BUNDLE_SUFFIX)]
        job = self.work / name
        shutil.rmtree(job, ignore_errors=True)
        job.mkdir(mode=0o700)
        bundle = job / "bundle.tar"
        try:
            incoming.replace(bundle)  # from now on the controller cannot change it
        except OSError as exc:
            log.error("cannot take %s: %s", incoming, exc)
            return
        if bundle.is_symlink() or not bundle.is_file():  # only ever read what the controller wrote
            log.error("refused %s: not a regular file", incoming.name)
            shutil.rmtree(job, ignore_errors=True)
            write_json(self.results / f"{name}.json", {"state": "refused", "version": None,
                                                       "problem": "malformed", "message": "not a file"})
            return
        result: dict[str, Any]
        try:
            verified = verify_bundle(bundle, load_roots(self.roots), datetime.now(UTC), job / "wheels",
                                     allow_unsigned=self.allow_unsigned,
                                     revocations=load_revocations(self.roots))
        except (BundleError, SignatureProblem, ValueError) as exc:
            problem = exc.problem if isinstance(exc, BundleError) else "certificate"
            log.error("refused firmware bundle %s: %s", name, exc)
            result = {"state": "refused", "version": None, "problem": str(problem), "message": str(exc)}
        else:
            version = verified.manifest.version
            if verified.signer is None:
                log.warning("installing UNSIGNED bundle %s (development switch)", name)
            else:
                log.info("bundle %s: chargepi %s, signed by %s", name, version, verified.signer)
            try:
                self._build(version, job / "wheels", [w.file for w in verified.manifest.wheels],
                            {w.file: w.sha256 for w in verified.manifest.wheels})
            except InstallError as exc:
                log.error("installing chargepi %s failed: %s", version, exc)
                result = {"state": "failed", "version": version, "problem": "install", "message": str(exc)}
            else:
                result = {"state": "prepared", "version": version, "problem": None, "message": "",
                          "signer": verified.signer}
        shutil.rmtree(job, ignore_errors=True)
        write_json(self.results / f"{name}.json", result)

    def _build(self, version: str, wheels: Path, files: list[str], hashes: dict[str, str]) -> None:
        if version == self.current():
            raise InstallError(f"chargepi {version} is the running version")
        partial = self.releases / version
        shutil.rmtree(partial, ignore_errors=True)
        self.releases.mkdir(parents=True, exist_ok=True)
        requirements = wheels / "requirements.txt"
        requirements.write_text("".join(f"{wheels / f} --hash=sha256:{hashes[f]}\n" for f in files))
        steps = [
            [self.python, "-m", "venv", str(partial)],
            [str(partial / "bin/python"), "-m", "pip", "install", "--isolated", "--no-index",
             "--require-hashes", "--only-binary", ":all:", "--no-cache-dir", "--disable-pip-version-check",
             "--no-input", "--quiet", "-r", str(requirements)],
            [str(partial / "bin/chargepi"), "--version"],
        ]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PIP_NO_INDEX": "1", "HOME": str(wheels)}
        for argv in steps:
            try:
                done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=PIP_TIMEOUT_S,
                                      check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                shutil.rmtree(partial, ignore_errors=True)
                raise InstallError(f"{Path(argv[0]).name}: {exc}") from exc
            if done.returncode != 0:
                shutil.rmtree(partial, ignore_errors=True)
                output = (done.stderr or done.stdout).strip().splitlines()[-5:]
                raise InstallError(f"{' '.join(argv[:3])} exited {done.returncode}: {' | '.join(output)}")
        (partial / COMPLETE).write_text(version + "\n")
        log.info("built release %s", partial)

    # ---- switching ----------------------------------------------------------------------------------
    def _switch(self, version: str) -> None:
        tmp = self.prefix / "current.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(f"releases/{version}")
        tmp.replace(self.prefix / "current")

    def restart_controller(self) -> None:
        """SIGTERM to every process of the controller's unit; systemd starts it again (Restart=always)."""
        text = _read_text(self.controller_procs) or ""
        for pid in (int(p) for p in text.split() if p.isdigit()):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError as exc:  # gone already, or not ours to signal
                log.warning("cannot signal controller process %d: %s", pid, exc)

    def activate(self, version: str) -> None:
        if not (self.releases / version / COMPLETE).exists():
            log.error("activation of %s refused: no such prepared release", version)
            return
        previous = self.current()
        if previous == version:
            return
        (self.incoming / "confirm").unlink(missing_ok=True)
        write_json(self.trial_path, {"version": version, "previous": previous,
                                     "deadline": self.now() + self.confirm_timeout_s})
        self._switch(version)
        log.info("switched to chargepi %s (previous %s); restarting the controller", version, previous)
        self.restart_controller()
        self._finish_trial()

    def _finish_trial(self) -> None:
        try:
            trial = json.loads(self.trial_path.read_text(encoding="utf-8"))
            version, previous, deadline = str(trial["version"]), trial["previous"], float(trial["deadline"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("unreadable trial record (%s): keeping the current release", exc)
            self.trial_path.unlink(missing_ok=True)
            return
        confirm = self.incoming / "confirm"
        while self.now() < deadline:
            if _read_text(confirm) == version:
                confirm.unlink()
                self.trial_path.unlink()
                log.info("chargepi %s is running and connected: update complete", version)
                self._prune(version, previous)
                return
            self.sleep(self.poll_s)
        if previous is None:
            log.error("chargepi %s did not confirm, and there is no previous release to go back to", version)
        else:
            log.error("chargepi %s did not reach running and connected in time: rolling back to %s",
                      version, previous)
            self._switch(str(previous))
            self.restart_controller()
        self.trial_path.unlink()

    def _prune(self, current: str, previous: str | None) -> None:
        kept = (current, previous)
        others = sorted((d for d in self.releases.iterdir()
                         if d.is_dir() and d.name not in kept),
                        key=lambda d: d.stat().st_mtime, reverse=True)
        for old in others[max(0, self.keep - 2):]:
            shutil.rmtree(old, ignore_errors=True)


class InstallError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware.update.installer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state", type=Path, default=Path("/var/lib/chargepi-update"))
    parser.add_argument("--prefix", type=Path, default=Path("/opt/chargepi"))
    parser.add_argument("--roots", type=Path, nargs="+", default=[Path("/etc/chargepi/firmware-roots")],
                        help="manufacturer root certificates (PEM files or directories)")
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--confirm-timeout", type=float, default=600.0,
                        help="seconds the new release has to report running and connected (default 600)")
    parser.add_argument("--controller-procs", type=Path,
                        default=Path("/sys/fs/cgroup/system.slice/chargepi.service/cgroup.procs"))
    parser.add_argument("--keep", type=int, default=3, help="releases kept, current and previous included")
    parser.add_argument("--allow-unsigned", action="store_true",
                        help="DEVELOPMENT ONLY: install bundles without a signature")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    Installer(args.state, args.prefix, args.roots, args.python, args.confirm_timeout, args.controller_procs,
              allow_unsigned=args.allow_unsigned, keep=max(2, args.keep)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
