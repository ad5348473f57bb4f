"""What the EEBus service (LPC/LPP as controllable system, MPC/MGCP) asks of the product.

:class:`SmartgridBackend` implements the async backend protocol of the SPINE layer
with the SPINE layer's own small types, so a refusal raised here is the ``Rejected`` the
controllable system answers with errorNumber 7 and its reason. Each call
runs the blocking database work in a thread (``sync_to_async``), so a slow database never
blocks the EEBus event loop for other peers.

The service calls :meth:`SmartgridBackend.started` once when it starts: the controllable
system is then in ``init``, limited to the failsafe values, until the energy guard's
heartbeat and a following limit write (LPC-TS-017).
"""

from __future__ import annotations

import redis
from asgiref.sync import sync_to_async
from django.utils import timezone

from energy import gridlimit as g
from energy.state import PlantState
from redisconn.snapshots import read_state
from smartgrid import services
from smartgrid.spine.backend import Direction, GridMeasurements, PowerLimit, Rejected

__all__ = ["Direction", "GridMeasurements", "PowerLimit", "Rejected", "SmartgridBackend"]


class SmartgridBackend:
    """The product side of LPC/LPP for one plant."""

    def __init__(self, plant_id: int) -> None:
        self.plant_id = plant_id

    async def started(self) -> None:
        """The EEBus service (re)started: init, limited to the failsafe values."""
        await sync_to_async(services.restart)(self.plant_id)

    def _facts(self) -> g.Facts:
        row = services.settings_of(self.plant_id)
        return services.facts_of(row)

    async def limit(self, direction: Direction | str) -> PowerLimit:
        """The limit as last written, with its remaining duration (inactive once it ran out)."""
        facts = await sync_to_async(self._facts)()
        now = timezone.now()
        facts, _ = g.advance(facts, now)
        written = facts.machine(str(direction)).limit
        if written is None:
            return PowerLimit(active=False, value_w=0.0)
        until = written.valid_until
        remaining = max(0.0, (until - now).total_seconds()) if until is not None else None
        return PowerLimit(active=written.active, value_w=written.value_w, duration_s=remaining)

    async def write_limit(self, direction: Direction | str, limit: PowerLimit, peer_ski: str) -> None:
        try:
            await sync_to_async(services.write_limit)(
                self.plant_id,
                str(direction),
                active=bool(limit.active),
                value_w=limit.value_w,
                duration_s=limit.duration_s,
                peer_ski=peer_ski,
            )
        except g.Rejected as exc:
            raise Rejected(exc.reason) from None

    async def failsafe_value_w(self, direction: Direction | str) -> float:
        facts = await sync_to_async(self._facts)()
        return facts.failsafe_w(str(direction))

    async def failsafe_duration_s(self) -> float:
        facts = await sync_to_async(self._facts)()
        return facts.failsafe_duration_s

    async def write_failsafe(
        self,
        direction: Direction | str | None,
        value_w: float | None,
        duration_s: float | None,
        peer_ski: str,
    ) -> None:
        try:
            await sync_to_async(services.write_failsafe)(
                self.plant_id,
                str(direction) if direction is not None else None,
                value_w,
                duration_s,
                peer_ski=peer_ski,
            )
        except g.Rejected as exc:
            raise Rejected(exc.reason) from None

    async def nominal_max_w(self, direction: Direction | str) -> float:
        facts = await sync_to_async(self._facts)()
        if str(direction) == g.CONSUME:
            return facts.consumption_nominal_max_w
        return facts.production_nominal_max_w

    async def heartbeat(self, peer_ski: str, counter: int | None) -> None:
        await sync_to_async(services.heartbeat)(self.plant_id, peer_ski=peer_ski, counter=counter)

    async def measurements(self) -> GridMeasurements | None:
        """The grid connection point from the plant's latest snapshot (``None`` without one)."""
        state = await sync_to_async(_latest)(self.plant_id)
        if state is None or state.meter is None:
            return None
        meter = state.meter
        phases = meter.phases
        return GridMeasurements(
            power_w=meter.active_power_w,
            power_per_phase_w=(phases[0].active_power_w, phases[1].active_power_w, phases[2].active_power_w),
            current_a=(phases[0].current_a, phases[1].current_a, phases[2].current_a),
            voltage_v=(phases[0].voltage_v, phases[1].voltage_v, phases[2].voltage_v),
            frequency_hz=meter.frequency_hz,
            energy_consumed_wh=meter.energy.active_import_wh,
            energy_fed_in_wh=meter.energy.active_export_wh,
        )


def _latest(plant_id: int) -> PlantState | None:
    try:
        return read_state(plant_id)
    except redis.RedisError:
        return None
