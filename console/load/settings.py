"""The ``ssh:`` and ``notify:`` sections of an inventory."""

from __future__ import annotations

import re

from console.load.values import Values
from console.load.yamldoc import Path_
from console.model.errors import did_you_mean
from console.model.inventory import NOTIFY_EVENTS, NotifySettings, SSHSettings

SSH_KEYS = ("user", "port", "known_hosts", "identity_files", "agent", "config")
NOTIFY_KEYS = ("webhook", "events", "timeout")


def read_ssh(v: Values, value: object) -> SSHSettings:
    path: Path_ = ("ssh",)
    data = v.mapping(value, path, SSH_KEYS)
    user = v.optional_name(data, "user", path)
    port = v.port(data.get("port", 22), (*path, "port"))
    known_path = None
    if data.get("known_hosts") is not None:
        known_path = v.resolve_path(v.string(data["known_hosts"], (*path, "known_hosts"), what="a file path"))
    ids = [
        v.resolve_path(p)
        for p in v.str_list(data.get("identity_files"), (*path, "identity_files"), what="key file paths")
    ]
    agent = v.boolean(data.get("agent", True), (*path, "agent"))
    config = None
    if data.get("config") is not None:
        config = v.resolve_path(v.string(data["config"], (*path, "config"), what="a file path"))
    return SSHSettings(user, port, known_path, tuple(ids), agent, config, "port" in data)


def read_notify(v: Values, value: object) -> NotifySettings | None:
    if value is None:
        return None
    path: Path_ = ("notify",)
    body = v.mapping(value, path, NOTIFY_KEYS)
    if "webhook" not in body:
        raise v.err(path, "notify needs a 'webhook' URL")
    url = v.string(body["webhook"], (*path, "webhook"), what="a URL")
    if not re.match(r"https?://", url):
        raise v.err((*path, "webhook"), "expected an http:// or https:// URL")
    events = tuple(v.str_list(body.get("events", list(NOTIFY_EVENTS)), (*path, "events"), what="events"))
    for i, e in enumerate(events):
        if e not in NOTIFY_EVENTS:
            raise v.err(
                (*path, "events", i),
                f"unknown event {e!r}{did_you_mean(e, NOTIFY_EVENTS)}; one of {', '.join(NOTIFY_EVENTS)}",
            )
    timeout = v.duration(body.get("timeout", 5), (*path, "timeout"))
    return NotifySettings(url, events, timeout)
