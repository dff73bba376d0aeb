"""lottery.host: the CPU a result was computed on."""

from lottery import host

XEON = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx avx2 avx512f avx512bw amx_tile

processor\t: 1
model name\t: something else
"""


def test_parse_cpuinfo_names_the_first_processor_and_its_widest_isa():
    assert host.parse_cpuinfo(XEON) == {
        "cpu": "Intel(R) Xeon(R) Platinum 8480+ (family 6, model 143)",
        "isa": "avx512f",
    }
    epyc = "model name : AMD EPYC\ncpu family : 25\nmodel : 1\nflags : sse2 avx avx2\n"
    assert host.parse_cpuinfo(epyc) == {"cpu": "AMD EPYC (family 25, model 1)", "isa": "avx2"}


def test_parse_cpuinfo_without_flags_says_unknown():
    assert host.parse_cpuinfo("")["isa"] == "unknown"
    assert host.parse_cpuinfo("")["cpu"]  # the platform's own name


def test_describe_has_every_field():
    record = host.describe()
    assert set(record) == {"cpu", "isa", "cores", "jax"}
    assert record["cores"] >= 1
