"""The local device's tree: entities, their features and the functions each feature serves, and the
use cases the device announces. ``LocalDevice`` (device.py) owns the tree and describes it in its
detailed discovery.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smartgrid.spine.model import Address, Cmd

if TYPE_CHECKING:
    from smartgrid.spine.device import LocalDevice
    from smartgrid.spine.peer import Peer

Provider = Callable[[], Any]
# write handler: (peer, feature, cmd) -> (error number, description)
WriteHandler = Callable[["Peer", "LocalFeature", Cmd], Awaitable[tuple[int, str]]]


@dataclass
class Function:
    name: str
    read: bool = True
    write: bool = False
    partial: bool = False

    def operations(self) -> dict[str, Any]:
        ops: dict[str, Any] = {}
        if self.read:
            ops["read"] = {}
        if self.write:
            ops["write"] = {"partial": {}} if self.partial else {}
        return ops


class LocalFeature:
    def __init__(self, entity: LocalEntity, fid: int, ftype: str, role: str, description: str | None) -> None:
        self.entity = entity
        self.id = fid
        self.type = ftype
        self.role = role
        self.description = description
        self.functions: dict[str, Function] = {}
        self.providers: dict[str, Provider] = {}
        self.write_handler: WriteHandler | None = None

    @property
    def key(self) -> tuple[tuple[int, ...], int]:
        return (self.entity.address, self.id)

    def address(self) -> Address:
        return Address(self.entity.device.address, self.entity.address, self.id)

    def add_function(
        self,
        name: str,
        provider: Provider,
        *,
        read: bool = True,
        write: bool = False,
        partial: bool = False,
    ) -> None:
        self.functions[name] = Function(name, read=read, write=write, partial=partial)
        self.providers[name] = provider

    def data(self, function: str) -> Any:
        provider = self.providers.get(function)
        return provider() if provider is not None else {}

    def discovery(self) -> dict[str, Any]:
        desc: dict[str, Any] = {
            "featureAddress": self.address().to_json(),
            "featureType": self.type,
            "role": self.role,
        }
        if self.functions:
            desc["supportedFunction"] = [
                {"function": f.name, "possibleOperations": f.operations()} for f in self.functions.values()
            ]
        if self.description:
            desc["description"] = self.description
        return {"description": desc}


class LocalEntity:
    def __init__(self, device: LocalDevice, address: tuple[int, ...], etype: str) -> None:
        self.device = device
        self.address = address
        self.type = etype
        self.features: list[LocalFeature] = []

    def add_feature(self, ftype: str, role: str, description: str | None = None) -> LocalFeature:
        fid = len(self.features) if self.address == (0,) else len(self.features) + 1
        feature = LocalFeature(self, fid, ftype, role, description)
        self.features.append(feature)
        return feature

    def feature(self, ftype: str, role: str) -> LocalFeature | None:
        for feat in self.features:
            if feat.type == ftype and feat.role == role:
                return feat
        return None


@dataclass(frozen=True)
class UseCase:
    entity: tuple[int, ...]
    actor: str
    name: str
    scenarios: tuple[int, ...]
    version: str = "1.0.0"
