"""HardwareProfile: the facts of one accelerator, and the profiles thinkfast ships.

Owns the per-device figures (memory tier, capacity, bandwidth, dense 16-bit FLOP/s,
links, power, price) with their sources, and the handful of model constants (achieved
efficiencies, per-layer and per-hop latencies) the timing equations in `timing.py` use.
Every constant below says whether it is SOURCED (a published figure, source named),
ESTIMATED (derived from published figures by the arithmetic shown) or FITTED (solved so
the emulator reproduces one named calibration figure). Figures come from
`shared/reference/hardware.md` unless another source is named.

The `local-cpu` profile is not a constant: `probe.py` measures this machine on first use.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import HardwareError

__all__ = ["HardwareProfile", "PROFILES", "get_profile", "profile_names", "ALIASES"]

GB = 1e9
TB = 1e12

# -- GPU model constants ----------------------------------------------------------------
# SOURCED: achieved fraction of HBM bandwidth in batch-1 decode. gpt-fast measures
# 1,397 GB/s for Llama-2-7B bf16 on an A100-80GB (2,039 GB/s peak) = 0.685; the reference
# quotes "roughly 70%". (The reference row says the 40 GB part; gpt-fast's README says its
# benchmarks ran on A100-80GB, whose peak gives the 70% the reference also states.)
GPU_MEMORY_EFFICIENCY = 0.70
# SOURCED: achieved fraction of dense peak in prefill GEMMs ("roughly 60%", reference).
GPU_COMPUTE_EFFICIENCY = 0.60
# SOURCED: fraction of HBM a serving stack may fill; vLLM's default gpu_memory_utilization
# is 0.9 (the rest: CUDA context, allocator fragmentation, GEMM workspaces).
GPU_MEMORY_USABLE = 0.90
# ESTIMATED: per-layer launch gaps under CUDA graphs (~8 kernels/layer x ~0.5 us).
GPU_LAYER_OVERHEAD_S = 4e-6
# ESTIMATED: latency of a small-message all-reduce step over NVLink/NVSwitch; NCCL's
# small-message all-reduce sits around 5-15 us on 8 GPUs, custom one-shot kernels
# (TensorRT-LLM, vLLM) around 3-5 us. Charged per log2(tp) level.
GPU_ALLREDUCE_LATENCY_S = 6e-6
# ESTIMATED: one InfiniBand hop between pipeline stages on different nodes (~5 us).
GPU_NODE_HOP_S = 5e-6
# SOURCED: an HGX/DGX node holds 8 GPUs on one NVLink switch: the tensor-parallel domain.
GPUS_PER_NODE = 8

# -- Wafer-scale (Cerebras) constants -----------------------------------------------------
# ASSUMED, bounded by the published deployment: fraction of a wafer's SRAM that can hold
# weights and KV. Each PE's 48 KB also holds its program, stack and fabric routing buffers,
# and some PEs are spares for yield; Cerebras runs Llama 3.1 70B (141 GB at 16 bits) on 4
# wafers (176 GB), so the fraction is at least 141/176 = 0.80, and 3 wafers would need
# more than 100%. 0.85 leaves ~7 KB of every PE for code and buffers.
WAFER_SRAM_USABLE = 0.85
# FITTED (two constants to the two Cerebras launch figures, Llama 3.1 8B 1,800 tok/s on 1
# CS-3 and 70B 450 tok/s on 4): per-layer decode latency on the fabric,
# layer_latency = WAFER_LAYER_LATENCY_S + WAFER_LAYER_LATENCY_PER_HIDDEN_S * hidden_size.
# A layer's matrix-vector products are spread over a 2-D patch of PEs; the hidden vector
# is broadcast along one side of the patch and partial sums are reduced along the other,
# so the critical path grows with the hidden width (the second term) on top of a fixed
# per-layer cost of synchronisation, norms, RoPE and softmax (the first term).
# `calibration.fit_constants()` solves for them; a test checks these values match it.
WAFER_LAYER_LATENCY_S = 7.76e-6  # FITTED, see calibration.fit_constants()
WAFER_LAYER_LATENCY_PER_HIDDEN_S = 1.964e-9  # FITTED, see calibration.fit_constants()
# ESTIMATED: wafer-to-wafer hop for the hidden state between pipeline stages, over the
# CS-3's 12 x 100 GbE system I/O through the SwarmX fabric (~5 us Ethernet switch + NIC
# latency; 16 KB of hidden state takes 0.1 us at 1.2 Tb/s).
WAFER_HOP_S = 5e-6
# ESTIMATED: dense 16-bit peak of WSE-3 = 900,000 cores x 8 fp16 FMAC/cycle x 2 FLOP x
# ~1.1 GHz = 15.8 PFLOP/s, which is also the vendor's "125 PFLOPS" divided by its 8x
# sparsity factor (15.6). WSE-2: 850,000 cores x 4 FMAC x 2 x 1.1 GHz = 7.5 PFLOP/s.
WSE3_DENSE_FLOPS = 15.6e15
WSE2_DENSE_FLOPS = 7.5e15
# ASSUMED: no published figure isolates them, so SRAM devices use the GPU efficiencies.
# At batch 1 a layer's roofline on its own region (S/L of a wafer, k LPU chips) is 9% of
# the 8B wafer step, 13% of the 70B one and 10% of the Groq one; the fitted latencies
# absorb the choice for those rows, and it matters again only at large batch or prefill.
SRAM_COMPUTE_EFFICIENCY = GPU_COMPUTE_EFFICIENCY
SRAM_MEMORY_EFFICIENCY = GPU_MEMORY_EFFICIENCY

# -- Groq LPU constants -------------------------------------------------------------------
# ASSUMED: fraction of a chip's 230 MB SRAM left for weights and KV after the compiled
# program's buffers (Groq does not publish it; same reasoning as the wafer, a bit more
# generous because the LPU has no per-core program memory to carve out).
LPU_SRAM_USABLE = 0.90
# FITTED to Groq's 300 tok/s for Llama 2 70B on 576 chips: latency of one chip-to-chip
# hop. With 576 chips over 80 layers each layer is tensor-parallel over 7.2 chips; every
# layer pays two tree all-reduces of 2*ceil(log2 7.2) = 6 hops, and the pipeline 79 hops
# between layer groups, so one token crosses ~1,040 hops: this is what bounds the LPU.
LPU_HOP_S = 2.868e-6  # FITTED, see calibration.fit_constants()

# -- prices and power --------------------------------------------------------------------
# ESTIMATED: amortisation used for cost per token: capital over 3 years of 100% use plus
# power at $0.10/kWh (the seed discussion's own arithmetic).
AMORTISATION_YEARS = 3.0
USD_PER_KWH = 0.10


class HardwareProfile(BaseModel):
    """One kind of accelerator as the emulator sees it: facts plus model constants.

    `kind` selects how a model is split over devices (see `placement.py`): `wafer` and
    `lpu` hold weights in on-chip SRAM and pipeline layers across devices (`lpu` also
    splits a layer over several chips), `gpu` uses tensor parallelism inside a node and
    pipelining across nodes, `cpu` runs on one device.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    title: str
    kind: Literal["wafer", "lpu", "gpu", "cpu"]
    memory_tier: Literal["sram", "hbm", "dram"]
    memory_bytes: float = Field(gt=0, description="per device")
    memory_bandwidth: float = Field(gt=0, description="bytes/s per device")
    peak_flops: float = Field(gt=0, description="dense 16-bit FLOP/s per device")
    link_bandwidth: float = Field(gt=0, description="bytes/s per device to its peers")
    power_w: float = Field(gt=0, description="per device (per system for wafers)")
    usd_per_device: float | None = Field(None, description="purchase price, when known")
    memory_usable_fraction: float = Field(gt=0, le=1)
    compute_efficiency: float = Field(gt=0, le=1)
    memory_efficiency: float = Field(gt=0, le=1)
    layer_latency_s: float = Field(0.0, ge=0, description="fixed cost per layer per step")
    layer_latency_per_hidden_s: float = Field(0.0, ge=0, description="per hidden unit")
    allreduce_latency_s: float = Field(0.0, ge=0, description="per log2(k) level")
    hop_latency_s: float = Field(0.0, ge=0, description="between pipeline stages")
    step_overhead_s: float = Field(
        0.0, ge=0, description="host work per forward pass (sampling, scheduling)"
    )
    max_tensor_parallel: int = Field(1, ge=1, description="devices one layer may span")
    max_devices: int = Field(1, ge=1, description="largest system the vendor builds")
    source: dict[str, str] = Field(default_factory=dict)

    @property
    def usable_bytes(self) -> float:
        return self.memory_bytes * self.memory_usable_fraction

    @property
    def usd_per_device_hour(self) -> float | None:
        """Amortised capital plus power, per device-hour of 100% use."""
        if self.usd_per_device is None:
            return None
        capital = self.usd_per_device / (AMORTISATION_YEARS * 365 * 24)
        return capital + self.power_w / 1000 * USD_PER_KWH

    def key_figures(self) -> dict[str, object]:
        return {
            "name": self.name,
            "title": self.title,
            "kind": self.kind,
            "memory": f"{self.memory_bytes / GB:g} GB {self.memory_tier.upper()}",
            "bandwidth_tb_s": self.memory_bandwidth / TB,
            "peak_tflops_16bit": self.peak_flops / TB,
            "power_w": self.power_w,
            "usd_per_device": self.usd_per_device,
        }


def _gpu(
    name: str,
    title: str,
    mem_gb: float,
    bw_tb: float,
    tflops: float,
    nvlink_gb: float,
    power: float,
    usd: float | None,
    price_src: str,
) -> HardwareProfile:
    return HardwareProfile(
        name=name,
        title=title,
        kind="gpu",
        memory_tier="hbm",
        memory_bytes=mem_gb * GB,
        memory_bandwidth=bw_tb * TB,
        peak_flops=tflops * TB,
        link_bandwidth=nvlink_gb * GB,
        power_w=power,
        usd_per_device=usd,
        memory_usable_fraction=GPU_MEMORY_USABLE,
        compute_efficiency=GPU_COMPUTE_EFFICIENCY,
        memory_efficiency=GPU_MEMORY_EFFICIENCY,
        layer_latency_s=GPU_LAYER_OVERHEAD_S,
        allreduce_latency_s=GPU_ALLREDUCE_LATENCY_S,
        hop_latency_s=GPU_NODE_HOP_S,
        max_tensor_parallel=GPUS_PER_NODE,
        max_devices=1_000_000,
        source={"figures": "NVIDIA datasheet (via reference/hardware.md)", "price": price_src},
    )


def _wafer(
    name: str,
    title: str,
    mem_gb: float,
    bw_pb: float,
    flops: float,
    power: float,
    usd: float | None,
    src: str,
) -> HardwareProfile:
    return HardwareProfile(
        name=name,
        title=title,
        kind="wafer",
        memory_tier="sram",
        memory_bytes=mem_gb * GB,
        memory_bandwidth=bw_pb * 1e15,
        peak_flops=flops,
        link_bandwidth=1.2e12 / 8,  # 12 x 100 GbE system I/O
        power_w=power,
        usd_per_device=usd,
        memory_usable_fraction=WAFER_SRAM_USABLE,
        compute_efficiency=SRAM_COMPUTE_EFFICIENCY,
        memory_efficiency=SRAM_MEMORY_EFFICIENCY,
        layer_latency_s=WAFER_LAYER_LATENCY_S,
        layer_latency_per_hidden_s=WAFER_LAYER_LATENCY_PER_HIDDEN_S,
        hop_latency_s=WAFER_HOP_S,
        max_tensor_parallel=1,  # only the hidden state crosses wafers: layers pipeline
        max_devices=2048,  # vendor: CS-3 clusters scale to 2,048 systems
        source={
            "figures": src,
            "dense_flops": "estimated, see WSE3_DENSE_FLOPS",
            "price": "seed discussion: $2-3M per CS-3 system (estimate, midpoint)",
        },
    )


def _builtin_profiles() -> dict[str, HardwareProfile]:
    groq = HardwareProfile(
        name="groq",
        title="Groq LPU (GroqChip)",
        kind="lpu",
        memory_tier="sram",
        memory_bytes=0.230 * GB,
        memory_bandwidth=80 * TB,
        peak_flops=188 * TB,
        # ESTIMATED: GroqChip has 16 C2C links at ~30 GB/s each (Groq ISCA'22 paper).
        link_bandwidth=16 * 30 * GB,
        power_w=300,
        usd_per_device=20_625,
        memory_usable_fraction=LPU_SRAM_USABLE,
        compute_efficiency=SRAM_COMPUTE_EFFICIENCY,
        memory_efficiency=SRAM_MEMORY_EFFICIENCY,
        allreduce_latency_s=2 * LPU_HOP_S,  # tree all-reduce: one hop up, one down per level
        hop_latency_s=LPU_HOP_S,
        max_tensor_parallel=1_000_000,
        max_devices=10_000,
        source={
            "figures": "TechPowerUp GroqChip article (via reference/hardware.md)",
            "price": "GroqCard list price at Mouser, 2023 (press reports)",
        },
    )
    return {
        p.name: p
        for p in (
            _wafer(
                "cs3",
                "Cerebras CS-3 (WSE-3)",
                44,
                21,
                WSE3_DENSE_FLOPS,
                23_000,
                2.5e6,
                "Cerebras launch material; Argonne SC24 tutorial; ALCF user guide",
            ),
            _wafer(
                "cs2",
                "Cerebras CS-2 (WSE-2)",
                40,
                20,
                WSE2_DENSE_FLOPS,
                20_000,
                None,
                "AnandTech 16626",
            ),
            groq,
            _gpu(
                "a100",
                "NVIDIA A100 SXM 80GB",
                80,
                2.039,
                312,
                600,
                400,
                15_000,
                "estimate: ~$15K street price (press reports, 2023)",
            ),
            _gpu(
                "h100",
                "NVIDIA H100 SXM",
                80,
                3.35,
                989,
                900,
                700,
                30_000,
                "estimate: ~$25-40K street price (press reports, 2023-24)",
            ),
            _gpu("h200", "NVIDIA H200", 141, 4.8, 989, 900, 700, None, ""),
            _gpu("b200", "NVIDIA B200", 192, 8.0, 2250, 1800, 1000, None, ""),
        )
    }


PROFILES: dict[str, HardwareProfile] = _builtin_profiles()
ALIASES = {
    "cs-3": "cs3",
    "wse3": "cs3",
    "wse-3": "cs3",
    "cs-2": "cs2",
    "wse2": "cs2",
    "lpu": "groq",
    "h100-sxm": "h100",
    "cpu": "local-cpu",
    "local": "local-cpu",
}


def profile_names() -> list[str]:
    return [*PROFILES, "local-cpu"]


def get_profile(name: str | HardwareProfile) -> HardwareProfile:
    """A profile by name (case-insensitive, a few aliases); `local-cpu` is probed lazily."""
    if isinstance(name, HardwareProfile):
        return name
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key in PROFILES:
        return PROFILES[key]
    if key == "local-cpu":
        from .probe import local_cpu_profile  # imported here: probing must never slow imports

        return local_cpu_profile()
    raise HardwareError(
        f"unknown hardware profile {name!r}; accepted: {', '.join(profile_names())}"
    )
