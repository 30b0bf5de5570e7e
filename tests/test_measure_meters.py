"""Meters against a fake NVML and a fake RAPL sysfs tree (no GPU, no root needed)."""
from __future__ import annotations

import os

import pytest

from gconvlib.measure import meters as M


class FakeNVMLError(Exception):
    pass


class FakeNotSupported(FakeNVMLError):
    pass


class FakeNvml:
    """Just enough of pynvml: a counter that returns the given mJ values in turn, a power reading."""

    NVMLError = FakeNVMLError
    NVMLError_NotSupported = FakeNotSupported
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_FI_DEV_MEMORY_TEMP = 82
    nvmlClocksEventReasonGpuIdle = 0x1
    nvmlClocksEventReasonSwPowerCap = 0x4
    nvmlClocksEventReasonHwSlowdown = 0x8
    nvmlClocksEventReasonNone = 0
    nvmlClocksEventReasonAll = 0xFF

    def __init__(self, counter=None, counter_supported=True, power_mw=150_000, init_error=None):
        self.counter = list(counter or [])
        self.counter_supported = counter_supported
        self.power_mw = power_mw
        self.init_error = init_error
        self.inits = 0

    def nvmlInit(self):
        if self.init_error:
            raise self.init_error
        self.inits += 1

    def nvmlShutdown(self):
        self.inits -= 1

    #: the GPUs NVML sees, in its (PCI) order: (UUID, PCI bus id)
    gpus = (("GPU-aaaa", "00000000:1B:00.0"),)
    uuid_lookup = True     # False: an old binding where the lookup by UUID fails

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("gpu", index)

    def nvmlDeviceGetHandleByUUID(self, uuid):
        if not self.uuid_lookup:
            raise FakeNVMLError("Function Not Found")
        return ("gpu", [u for u, _ in self.gpus].index(uuid))

    def nvmlDeviceGetHandleByPciBusId(self, bus_id):
        return ("gpu", [b for _, b in self.gpus].index(bus_id))

    def nvmlDeviceGetUUID(self, handle):
        return self.gpus[handle[1]][0]

    def nvmlDeviceGetPciInfo(self, handle):
        class Info:
            busId = self.gpus[handle[1]][1].encode()
        return Info()

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.counter_supported:
            raise FakeNotSupported("Not Supported")
        return self.counter.pop(0) if len(self.counter) > 1 else self.counter[0]

    def nvmlDeviceGetPowerUsage(self, handle):
        return self.power_mw

    def nvmlDeviceGetName(self, handle):
        return b"Fake GPU"

    def nvmlSystemGetDriverVersion(self):
        return "580.00"

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return 55

    def nvmlDeviceGetClockInfo(self, handle, clock):
        return {1: 1980, 2: 2619}[clock]

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return 0x4 | 0x1

    # no nvmlDeviceGetFieldValues / nvmlDeviceGetEnforcedPowerLimit: those fields must come back None


def test_energy_counter_delta_gives_joules():
    syncs = []
    nv = FakeNvml(counter=[900_000, 1_000_000, 1_250_500])  # mJ: probe by select_meter, begin, end
    meter = M.select_meter("cuda", sync=lambda: syncs.append(1), nvml=nv)
    assert isinstance(meter, M.NvmlEnergyMeter)
    meter.begin()
    reading = meter.end()
    assert reading.joules == pytest.approx(250.5)
    assert reading.meter == "nvml_energy" and not reading.approximate
    assert reading.unavailable_reason is None and reading.seconds >= 0
    assert len(syncs) == 2  # one sync before each read
    meter.close()
    assert nv.inits == 0  # the init made by select_meter is undone


def test_a_failed_nvml_read_at_the_end_is_energy_unavailable_not_zero():
    nv = FakeNvml(counter=[900_000, 1_000_000])
    meter = M.select_meter("cuda", nvml=nv)
    meter.begin()
    nv.counter_supported = False  # the driver stops answering inside the window
    reading = meter.end()
    meter.close()
    assert reading.joules is None
    assert reading.unavailable_reason == "NVML energy read failed: Not Supported"


def test_counter_not_supported_falls_back_to_power_polling():
    nv = FakeNvml(counter_supported=False, power_mw=200_000)
    meter = M.select_meter("cuda", nvml=nv, power_interval_s=0.005)
    assert isinstance(meter, M.NvmlPowerMeter)
    meter.begin()
    import time

    time.sleep(0.05)
    reading = meter.end()
    meter.close()
    assert reading.approximate and reading.meter == "nvml_power"
    # constant power: the trapezoid integral is exact whatever the sample times
    assert reading.joules == pytest.approx(200.0 * reading.seconds, rel=1e-9)
    assert reading.meta["samples"] >= 2
    assert reading.meta["fallback_reason"] == "energy counter not supported"


def test_a_missing_uuid_falls_back_to_the_pci_bus_id_not_the_index():
    """CUDA_VISIBLE_DEVICES=1 (or fastest-first order): torch's cuda:0 is NVML's GPU 1. Without
    the lookup by UUID, the bus id finds it; the index would meter GPU 0."""
    nv = FakeNvml(counter=[1_000_000])
    nv.gpus = (("GPU-aaaa", "00000000:1B:00.0"), ("GPU-bbbb", "00000000:9A:00.0"))
    nv.uuid_lookup = False
    meter = M.select_meter("cuda:0", nvml=nv, uuid="GPU-bbbb", pci_bus_id="00000000:9A:00.0")
    assert meter.handle == ("gpu", 1) and meter.matched_by == "pci_bus_id"
    assert meter.identity() == {"nvml_uuid": "GPU-bbbb", "nvml_pci_bus_id": "00000000:9A:00.0",
                                "nvml_matched_by": "pci_bus_id"}
    meter.close()
    nv.uuid_lookup = True
    assert M.select_meter("cuda:0", nvml=nv, uuid="GPU-bbbb").handle == ("gpu", 1)
    # neither matches and NVML sees two GPUs: no meter rather than the wrong GPU's
    meter = M.select_meter("cuda:0", nvml=nv, uuid="GPU-cccc", pci_bus_id="00000000:01:00.0")
    assert isinstance(meter, M.NullMeter) and "cannot tell which NVML device is cuda:0" in meter.reason
    # one GPU: the index is unambiguous
    nv.gpus = nv.gpus[:1]
    meter = M.select_meter("cuda", nvml=nv)
    assert meter.handle == ("gpu", 0) and meter.matched_by.startswith("index")


def test_integrate_power_trapezoid():
    assert M.integrate_power([(0.0, 100.0), (1.0, 200.0), (3.0, 200.0)]) == pytest.approx(150 + 400)
    assert M.integrate_power([(0.0, 100.0)]) == 0.0


def test_missing_library_gives_null_meter(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pynvml(name, *args, **kwargs):
        if name == "pynvml":
            raise ImportError("No module named 'pynvml'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(M, "nvml_module", None)
    monkeypatch.setattr(builtins, "__import__", no_pynvml)
    meter = M.select_meter("cuda")
    assert isinstance(meter, M.NullMeter)
    meter.begin()
    reading = meter.end()
    assert reading.joules is None and reading.watts is None
    assert reading.unavailable_reason.startswith("NVML unavailable: ") and "pynvml" in reading.unavailable_reason


def test_init_failure_gives_null_meter_via_module_hook(monkeypatch):
    monkeypatch.setattr(M, "nvml_module", FakeNvml(init_error=FakeNVMLError("Driver Not Loaded")))
    meter = M.select_meter("cuda:0")
    assert isinstance(meter, M.NullMeter)
    reading = (meter.begin(), meter.end())[1]
    assert reading.joules is None
    assert reading.unavailable_reason == "NVML unavailable: Driver Not Loaded"


def test_select_meter_rejects_unknown_device():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        M.select_meter("tpu")


def test_gpu_telemetry_fields_none_when_calls_fail():
    tel = M.gpu_telemetry(("gpu", 0), nvml=FakeNvml())
    assert tel["name"] == "Fake GPU" and tel["driver"] == "580.00"
    assert tel["temperature_gpu_c"] == 55 and tel["sm_clock_mhz"] == 1980 and tel["memory_clock_mhz"] == 2619
    assert tel["throttle_reasons"] == ["GpuIdle", "SwPowerCap"] and tel["throttle_mask"] == 5
    assert tel["power_w"] == pytest.approx(150.0)
    assert tel["temperature_memory_c"] is None and tel["power_limit_w"] is None  # not in the fake


# -- RAPL ---------------------------------------------------------------------------------------

def make_rapl(root, packages=((1_000_000, 262_143_328_850),), sub=True, psys=False):
    for i, (energy, top) in enumerate(packages):
        d = root / f"intel-rapl:{i}"
        d.mkdir(parents=True)
        (d / "name").write_text(f"package-{i}\n")
        (d / "energy_uj").write_text(f"{energy}\n")
        (d / "max_energy_range_uj").write_text(f"{top}\n")
        if sub:  # sub-domains are inside the package: must not be added again
            s = root / f"intel-rapl:{i}:0"
            s.mkdir()
            (s / "name").write_text("core\n")
            (s / "energy_uj").write_text("999999999\n")
            (s / "max_energy_range_uj").write_text(f"{top}\n")
    if psys:
        d = root / f"intel-rapl:{len(packages)}"
        d.mkdir()
        (d / "name").write_text("psys\n")
        (d / "energy_uj").write_text("5\n")
        (d / "max_energy_range_uj").write_text("100\n")


def set_energy(root, i, value):
    (root / f"intel-rapl:{i}" / "energy_uj").write_text(f"{value}\n")


def test_rapl_sums_packages(tmp_path):
    make_rapl(tmp_path, packages=((1_000_000, 10**12), (2_000_000, 10**12)), psys=True)
    meter = M.select_meter("cpu", rapl_root=tmp_path)
    assert isinstance(meter, M.RaplMeter)
    assert meter.names == ["package-0", "package-1"]  # psys and sub-domains left out
    meter.begin()
    set_energy(tmp_path, 0, 3_500_000)
    set_energy(tmp_path, 1, 2_250_000)
    reading = meter.end()
    assert reading.joules == pytest.approx(2.5 + 0.25)
    assert reading.meter == "rapl" and not reading.approximate


def test_rapl_wrap_around(tmp_path):
    top = 262_143_328_850
    make_rapl(tmp_path, packages=((top - 1_000_000, top),))
    meter = M.RaplMeter(tmp_path)
    meter.begin()
    set_energy(tmp_path, 0, 4_000_000)  # wrapped: end < begin
    assert meter.end().joules == pytest.approx(5.0)
    assert M.rapl_delta_joules([90], [10], [100]) == pytest.approx(20e-6)


def test_rapl_absent_or_unreadable_is_unavailable(tmp_path):
    meter = M.select_meter("cpu", rapl_root=tmp_path / "nothing")
    assert isinstance(meter, M.NullMeter) and meter.reason.startswith("RAPL not readable: ")

    make_rapl(tmp_path)
    energy = tmp_path / "intel-rapl:0" / "energy_uj"
    energy.unlink()
    energy.mkdir()  # unreadable even for root (reading a directory fails)
    meter = M.select_meter("cpu", rapl_root=tmp_path)
    assert isinstance(meter, M.NullMeter) and "RAPL not readable" in meter.reason
    reading = (meter.begin(), meter.end())[1]
    assert reading.joules is None and reading.unavailable_reason == meter.reason


def test_rapl_unreadable_mid_run_gives_missing_value(tmp_path):
    make_rapl(tmp_path)
    meter = M.RaplMeter(tmp_path)
    meter.begin()
    set_energy(tmp_path, 0, "garbage")
    reading = meter.end()
    assert reading.joules is None and reading.unavailable_reason.startswith("RAPL not readable")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_rapl_permission_denied(tmp_path):
    make_rapl(tmp_path)
    (tmp_path / "intel-rapl:0" / "energy_uj").chmod(0)
    assert isinstance(M.select_meter("cpu", rapl_root=tmp_path), M.NullMeter)


def test_null_meter_never_reports_zero():
    meter = M.NullMeter("no energy source")
    meter.begin()
    reading = meter.end()
    assert reading.joules is None and not reading.available
    assert reading.unavailable_reason == "no energy source"
    with pytest.raises(RuntimeError):
        M.NullMeter("x").end()  # end without begin


def test_every_measurement_records_which_nvml_device_was_metered():
    from gconvlib.measure.protocol import environment

    nv = FakeNvml(counter=[1_000_000])
    nv.gpus = (("GPU-aaaa", "00000000:1B:00.0"), ("GPU-bbbb", "00000000:9A:00.0"))
    nv.uuid_lookup = False
    meter = M.select_meter("cuda:0", nvml=nv, uuid="GPU-bbbb", pci_bus_id="00000000:9A:00.0")
    env = environment("cpu", meter)
    meter.close()
    assert (env["nvml_uuid"], env["nvml_pci_bus_id"], env["nvml_matched_by"]) == (
        "GPU-bbbb", "00000000:9A:00.0", "pci_bus_id")
