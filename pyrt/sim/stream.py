"""One market-data websocket endpoint of the simulator (stocks or crypto): Alpaca's handshake,
authentication (in band or by upgrade headers), additive subscriptions with the complete-state
reply, JSON or MessagePack by the upgrade's Content-Type, and fault injection (drop a connection
after n messages)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import msgpack
from aiohttp import WSMsgType, web

#: Extra keys of the subscription reply, computed from the current subscriptions.
Reply = Callable[[dict[str, set[str]]], dict[str, list[str]]]


class StreamHub:
    def __init__(
        self,
        key_id: str,
        secret_key: str,
        channels: Sequence[str],
        reply: Reply,
        drop_after: int = 0,
    ) -> None:
        self.key_id = key_id
        self.secret_key = secret_key
        self.channels = tuple(channels)
        self.reply = reply
        #: Fault injection: close a connection after this many messages (0 = never).
        self.drop_after = drop_after
        self.sent: dict[web.WebSocketResponse, int] = {}
        self.subscribers: dict[web.WebSocketResponse, tuple[bool, dict[str, set[str]]]] = {}

    async def send(
        self, ws: web.WebSocketResponse, packed: bool, messages: list[dict[str, Any]]
    ) -> None:
        if packed:
            await ws.send_bytes(msgpack.packb(messages, use_bin_type=True, datetime=False))
        else:
            await ws.send_str(json.dumps(messages))

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        packed = "msgpack" in request.headers.get("Content-Type", "")
        subscriptions: dict[str, set[str]] = {c: set() for c in self.channels}
        authenticated = (
            request.headers.get("APCA-API-KEY-ID") == self.key_id
            and request.headers.get("APCA-API-SECRET-KEY") == self.secret_key
        )
        await self.send(ws, packed, [{"T": "success", "msg": "connected"}])
        if authenticated:
            await self.send(ws, packed, [{"T": "success", "msg": "authenticated"}])
        async for message in ws:
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            try:
                data = (
                    msgpack.unpackb(message.data)
                    if message.type == WSMsgType.BINARY
                    else json.loads(message.data)
                )
            except (
                ValueError,
                TypeError,
                msgpack.ExtraData,
                msgpack.FormatError,
                msgpack.StackError,
            ):
                await self.send(ws, packed, [{"T": "error", "code": 400, "msg": "invalid syntax"}])
                continue
            if not isinstance(data, dict):
                await self.send(ws, packed, [{"T": "error", "code": 400, "msg": "invalid syntax"}])
                continue
            authenticated = await self.control(ws, packed, data, authenticated, subscriptions)
        self.subscribers.pop(ws, None)
        return ws

    async def control(
        self,
        ws: web.WebSocketResponse,
        packed: bool,
        data: dict[str, Any],
        authenticated: bool,
        subscriptions: dict[str, set[str]],
    ) -> bool:
        """Answers one client message (auth, subscribe, unsubscribe); returns the auth state."""
        action = data.get("action")
        if action == "auth":
            if authenticated:
                await self.send(
                    ws, packed, [{"T": "error", "code": 403, "msg": "already authenticated"}]
                )
            elif data.get("key") == self.key_id and data.get("secret") == self.secret_key:
                authenticated = True
                await self.send(ws, packed, [{"T": "success", "msg": "authenticated"}])
            else:
                await self.send(ws, packed, [{"T": "error", "code": 402, "msg": "auth failed"}])
        elif action in {"subscribe", "unsubscribe"}:
            if not authenticated:
                await self.send(
                    ws, packed, [{"T": "error", "code": 401, "msg": "not authenticated"}]
                )
                return authenticated
            for channel in self.channels:
                symbols = data.get(channel) or []
                if not isinstance(symbols, list):
                    continue
                chosen = {s for s in symbols if isinstance(s, str)}
                if action == "subscribe":
                    subscriptions[channel] |= chosen
                else:
                    subscriptions[channel] -= chosen
            self.subscribers[ws] = (packed, subscriptions)
            reply = {
                "T": "subscription",
                **{c: sorted(subscriptions[c]) for c in self.channels},
                **self.reply(subscriptions),
            }
            await self.send(ws, packed, [reply])
        else:
            await self.send(ws, packed, [{"T": "error", "code": 400, "msg": "invalid syntax"}])
        return authenticated

    async def deliver(self, symbol: str, items: list[tuple[str, dict[str, Any]]], ns: int) -> None:
        """Sends ``items`` (channel, message without ``S``) to every subscriber of ``symbol`` on
        their channel, as one batch; ``t`` becomes a msgpack timestamp for msgpack clients."""
        for ws, (packed, subs) in list(self.subscribers.items()):
            batch = []
            for channel, item in items:
                if symbol in subs[channel] or "*" in subs[channel]:
                    message = {
                        "T": item["T"],
                        "S": symbol,
                        **{k: v for k, v in item.items() if k != "T"},
                    }
                    if packed:
                        message["t"] = msgpack.Timestamp.from_unix_nano(ns)
                    batch.append(message)
            if batch and not ws.closed:
                try:
                    await self.send(ws, packed, batch)
                except ConnectionResetError:
                    # The client went away between the check and the write: forget it and keep
                    # serving the others (an exception here would end the replay for everyone).
                    self.subscribers.pop(ws, None)
                    self.sent.pop(ws, None)
                    continue
                self.sent[ws] = self.sent.get(ws, 0) + len(batch)
                if self.drop_after and self.sent[ws] >= self.drop_after:
                    self.subscribers.pop(ws, None)
                    self.sent.pop(ws, None)
                    await ws.close()

    async def close(self) -> None:
        for ws in list(self.subscribers):
            await ws.close(code=1001, message=b"server shutdown")
