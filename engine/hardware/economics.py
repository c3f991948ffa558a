"""Economics of a deployment: serving precision, what a token costs, and break-even batch.

Cost per million output tokens of `D` devices serving `B` users, one decode step taking
`step` seconds, at utilisation `u` (the fraction of hours the system serves at that
batch; idle hours are still paid for):

    usd_per_million = D * rate / (3600 * (B / step) * u) * 1e6
    rate            = usd_per_hour, else price / (3 years of hours) + power * $/kWh

where `price` is `usd_per_device` or the profile's purchase price (profiles.py owns the
amortisation: 3 years at 100% use, $0.10/kWh, the seed discussion's own arithmetic).
Energy per token while serving is D * power * step / B (timing.py).

Break-even: the smallest batch whose cost per million falls to a price. Placements come
in bands of batch sizes with the same devices and split (the count grows as the KV cache
grows); inside a band the cost never rises with the batch, because every term of a decode
step is affine in the batch with a non-negative intercept, so step / B does not grow. The
search therefore finds each band's end (galloping, then bisection on the placement) and
bisects inside the first band whose end is cheap enough: exact, in a few place() calls
per band.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..errors import HardwareError
from .model_spec import ModelSpec
from .placement import Placement, place
from .profiles import HardwareProfile
from .timing import decode_step_s

__all__ = [
    "DTYPES",
    "BreakEven",
    "Pricing",
    "break_even",
    "context_warning",
    "spec_at_dtype",
]

# Serving precisions: bytes per weight and per KV-cache element. Compute stays at the
# profile's dense 16-bit peak (weight-only quantisation dequantises into 16-bit matmuls;
# fp8 tensor cores would be faster on GPUs that have them, so fp8 GPU prefill is a bound).
DTYPES: dict[str, float] = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1, "int4": 0.5}
_DTYPE_ALIASES = {
    "float32": "fp32",
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "float8": "fp8",
    "e4m3": "fp8",
    "q8": "int8",
    "q4": "int4",
}


def spec_at_dtype(spec: ModelSpec, dtype: str | None) -> ModelSpec:
    """`spec` served at `dtype` (weights and KV cache); None keeps the spec's own width."""
    if dtype is None:
        return spec
    key = str(dtype).strip().lower()
    key = _DTYPE_ALIASES.get(key, key)
    if key not in DTYPES:
        raise HardwareError(
            f"unknown dtype {dtype!r}; accepted: {', '.join(DTYPES)} (weights and KV cache)"
        )
    return spec.with_dtype_bytes(DTYPES[key])


def context_warning(spec: ModelSpec, context: int) -> str | None:
    """A sentence when `context` exceeds the model's trained maximum, else None."""
    if spec.max_context is not None and context > spec.max_context:
        return (
            f"context {context:,} exceeds {spec.name}'s maximum of {spec.max_context:,} "
            "positions; the projection extrapolates memory and time to a length the model "
            "cannot serve"
        )
    return None


class Pricing(BaseModel):
    """What a device-hour costs and how much of the time the system is busy."""

    model_config = ConfigDict(frozen=True)

    usd_per_device: float | None = Field(None, gt=0, description="purchase price override")
    usd_per_hour: float | None = Field(
        None, gt=0, description="all-in price per device-hour (e.g. a cloud rental)"
    )
    utilisation: float = Field(1.0, gt=0, le=1, description="fraction of hours serving")

    def device_hour(self, profile: HardwareProfile) -> float | None:
        """USD per device-hour: the override, else amortised price plus power; None when
        neither this pricing nor the profile knows a price."""
        if self.usd_per_hour is not None:
            return self.usd_per_hour
        if self.usd_per_device is not None:
            profile = profile.model_copy(update={"usd_per_device": self.usd_per_device})
        return profile.usd_per_device_hour

    def usd_per_million_tokens(
        self, profile: HardwareProfile, devices: int, aggregate_tokens_per_s: float
    ) -> float | None:
        rate = self.device_hour(profile)
        if rate is None:
            return None
        return devices * rate / (3600 * aggregate_tokens_per_s * self.utilisation) * 1e6


class BreakEven(BaseModel):
    """The answer of `break_even`: a batch that pays, or the cheapest point there is."""

    model: str
    hardware: str
    price: float = Field(description="target USD per million output tokens")
    context: int
    dtype_bytes: float
    devices_fixed: int | None
    usd_per_device_hour: float
    utilisation: float
    batch: int | None = Field(description="smallest batch at or under the price; None: never")
    devices: int | None
    usd_per_million_tokens: float | None
    tokens_per_s_per_user: float | None
    cheapest_batch: int
    cheapest_devices: int
    cheapest_usd_per_million_tokens: float
    largest_batch: int = Field(description="the largest batch searched")
    stopped_because: str = Field(description="why larger batches were not searched")

    def sentence(self) -> str:
        system = (
            f"{self.devices_fixed} x {self.hardware}"
            if self.devices_fixed
            else f"{self.hardware} (fewest devices that fit each batch)"
        )
        head = f"{self.model} on {system}, context {self.context:,}: "
        if self.batch is not None:
            return head + (
                f"breaks even at batch {self.batch:,} on {self.devices} device(s): "
                f"${self.usd_per_million_tokens:.3f} per million tokens <= ${self.price:g}, "
                f"{self.tokens_per_s_per_user:.0f} tok/s per user"
            )
        return head + (
            f"never at these constants: the minimum is "
            f"${self.cheapest_usd_per_million_tokens:.3f} per million tokens at batch "
            f"{self.cheapest_batch:,} on {self.cheapest_devices} device(s), above ${self.price:g} "
            f"(searched batches 1-{self.largest_batch:,}; {self.stopped_because})"
        )


def _key(p: Placement) -> tuple[int, int, float]:
    return p.devices, p.stages, p.tensor_parallel


def break_even(
    spec: ModelSpec,
    profile: HardwareProfile,
    price: float,
    *,
    context: int = 2048,
    devices: int | None = None,
    pricing: Pricing | None = None,
    max_batch: int = 100_000,
) -> BreakEven:
    """The smallest batch at which `spec` on `profile` costs at most `price` USD per
    million output tokens (see the module doc for the search and why it is exact)."""
    if not price > 0:
        raise HardwareError(f"price must be a positive USD amount per million tokens, got {price}")
    pricing = pricing or Pricing()
    rate = pricing.device_hour(profile)
    if rate is None:
        raise HardwareError(
            f"profile {profile.name!r} has no price; give --usd-per-device or --usd-per-hour"
        )
    places: dict[int, Placement] = {}

    def at(batch: int) -> Placement:
        if batch not in places:
            places[batch] = place(spec, profile, batch=batch, context=context, devices=devices)
        return places[batch]

    def cost(batch: int) -> float:
        step = decode_step_s(spec, profile, at(batch), batch, context)
        return pricing.usd_per_million_tokens(profile, at(batch).devices, batch / step)

    first = at(1)
    if not first.fits:
        raise HardwareError(
            f"{spec.name} does not fit on {first.devices} x {profile.name} at context "
            f"{context:,}: {first.reason}"
        )
    best, found, lo = 1, None, 1
    stopped = f"max batch {max_batch:,} reached"
    while True:
        key = _key(at(lo))

        def same(b: int, key: tuple[int, int, float] = key) -> bool:
            return b <= max_batch and at(b).fits and _key(at(b)) == key

        # gallop to a batch outside the band, then bisect for the band's last batch
        step, good = 1, lo
        while same(lo + step):
            good = lo + step
            step *= 2
        bad = lo + step
        while bad - good > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if same(mid) else (good, mid)
        hi = good
        if cost(hi) < cost(best):
            best = hi
        if cost(hi) <= price:
            low, high = lo, hi  # cost is non-increasing in the band: bisect its first hit
            while low < high:
                mid = (low + high) // 2
                low, high = (low, mid) if cost(mid) <= price else (mid + 1, high)
            found, stopped = low, "found"
            break
        if hi + 1 > max_batch:
            break
        if not at(hi + 1).fits:
            stopped = f"batch {hi + 1:,} does not fit: {at(hi + 1).reason}"
            break
        lo = hi + 1
    return BreakEven(
        model=spec.name,
        hardware=profile.name,
        price=price,
        context=context,
        dtype_bytes=spec.dtype_bytes,
        devices_fixed=devices,
        usd_per_device_hour=rate,
        utilisation=pricing.utilisation,
        batch=found,
        devices=None if found is None else at(found).devices,
        usd_per_million_tokens=None if found is None else cost(found),
        tokens_per_s_per_user=(
            None if found is None else 1 / decode_step_s(spec, profile, at(found), found, context)
        ),
        cheapest_batch=best,
        cheapest_devices=at(best).devices,
        cheapest_usd_per_million_tokens=cost(best),
        largest_batch=hi,
        stopped_because=stopped,
    )
