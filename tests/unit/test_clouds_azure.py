"""The Azure facts in stacks/clouds/azure.py: locations and zones, VM sizes and their architecture, disks, tags,
address offsets, the load balancer's probe limits, the stage-name limit and peers; and a whole Azure stage read
through the cloud-neutral settings and topology (with the cloud registered for the test only)."""

from __future__ import annotations

import copy
import ipaddress

import pytest

import stacks.settings as settings_module
from stacks.clouds import CLOUDS, azure
from stacks.errors import SettingsError
from stacks.reader import Reader
from stacks.settings import parse_settings
from stacks.sizes import NodeSize
from stacks.topology import derive_topology
from tests.unit.stack_helpers import raw_settings


def test_the_cloud_is_registered_by_its_name():
    assert CLOUDS["azure"] is azure.CLOUD
    assert azure.CLOUD.region_key == "azure-native:location"


# --- locations and zones ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "region,problem",
    [
        ("westeurope", None),
        ("swedencentral", None),
        ("westus", None),  # a location, though without zones
        ("West Europe", "programmatic name westeurope"),
        ("west-europe", "programmatic name westeurope"),
        ("eu-central-1", "not an Azure location"),
        ("narnia", "not an Azure location"),
    ],
)
def test_locations(region, problem):
    found = azure.region_problem(region)
    assert (found is None) if problem is None else (problem in found)


def test_every_location_is_listed_once_with_or_without_zones():
    assert not set(azure.LOCATIONS_WITH_ZONES) & set(azure.LOCATIONS_WITHOUT_ZONES)
    assert len(azure.LOCATIONS) == len(set(azure.LOCATIONS)) == len(azure.CLOUD.regions)
    assert all(loc == loc.lower() and loc.isalnum() for loc in azure.LOCATIONS)


@pytest.mark.parametrize(
    "zone,region,problem",
    [
        ("1", "westeurope", None),
        ("3", "eastus2", None),
        ("2", None, None),
        ("4", "westeurope", "not an Azure availability zone"),
        ("0", "westeurope", "not an Azure availability zone"),
        (1, "westeurope", "quote it ('1')"),
        ("westeurope-1", "westeurope", "zone number alone"),
        ("eu-central-1a", "westeurope", "not an Azure availability zone"),
        ("1", "westus", "westus offers no availability zones"),
        ("1", "northcentralus", "offers no availability zones"),
        ("", "westeurope", "not a zone name"),
        (None, "westeurope", "not a zone name"),
        (True, "westeurope", "not a zone name"),
    ],
)
def test_zones(zone, region, problem):
    found = azure.zone_problem(zone, region)
    assert (found is None) if problem is None else (problem in found), found


# --- VM sizes --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size,expected",
    [
        ("Standard_D2s_v5", NodeSize(2, 8192)),
        ("Standard_E4ds_v5", NodeSize(4, 32768)),
        ("Standard_E96s_v5", NodeSize(96, 672 * 1024)),  # not 8 GiB per vCPU: read from the table, not derived
        ("Standard_D64ps_v5", NodeSize(64, 208 * 1024)),
        ("Standard_E32ps_v5", NodeSize(32, 208 * 1024)),
        ("Standard_D4ps_v6", NodeSize(4, 16384)),
        ("Standard_F8s_v2", NodeSize(8, 16384)),
        ("Standard_B2s", NodeSize(2, 4096)),
    ],
)
def test_sizes_come_from_the_series_tables(size, expected):
    assert azure.instance_type_problem(size) is None
    assert azure.node_size(size) == expected


@pytest.mark.parametrize(
    "size,problem",
    [
        ("r7i.xlarge", "not an Azure VM size name"),
        ("standard_d2s_v5", "not an Azure VM size name"),
        ("Standard_E8-4ds_v5", "constrained-vCPU"),
        ("Standard_D3s_v5", "not a size of the series"),  # no such size
        ("Standard_M128s", "not a size of the series"),  # offered, but not sized by the platform
        ("Standard_NC6s_v3", "not a size of the series"),
        ("Standard_B1ms", "has 2048 MiB of memory, less than the 4096 MiB"),
        ("Standard_B1s", "has 1024 MiB of memory"),
    ],
)
def test_sizes_the_platform_cannot_size_are_refused_with_a_reason(size, problem):
    found = azure.instance_type_problem(size)
    assert found and problem in found, found
    with pytest.raises(ValueError):
        azure.node_size(size)


@pytest.mark.parametrize(
    "size,arch",
    [
        ("Standard_D4ps_v5", "arm64"),
        ("Standard_E8pds_v5", "arm64"),
        ("Standard_D4pls_v6", "arm64"),
        ("Standard_D4s_v5", "x86_64"),
        ("Standard_D4ads_v5", "x86_64"),
        ("Standard_B2ms", "x86_64"),
    ],
)
def test_architecture_of_a_size(size, arch):
    assert azure.architecture(size) == arch


def test_every_vendored_size_is_sized_or_refused_for_memory():
    for size, sized in azure.VM_SIZES.items():
        problem = azure.instance_type_problem(size)
        assert problem is None or "less than" in problem, (size, problem)
        assert sized.memory_mib % 1024 == 0 and sized.vcpus >= 1
    assert azure.instance_type_problem("Standard_D2ls_v5") is None  # 4 GiB: exactly the minimum
    assert set(azure.REFERENCE_TYPES) <= azure.instance_types()
    assert azure.instance_type_problem(azure.CLOUD.default_monitoring_instance_type) is None


# --- disks -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "disk_type,size,ceiling",
    [
        ("PremiumV2_LRS", 1, 3000),  # the baseline at any size
        ("PremiumV2_LRS", 100, 50_000),
        ("PremiumV2_LRS", 500, 80_000),  # the per-disk maximum
        ("Premium_LRS", 100, 500),  # P10
        ("Premium_LRS", 128, 500),
        ("Premium_LRS", 129, 1100),  # P15
        ("Premium_LRS", 1024, 5000),  # P30
        ("Premium_LRS", 32_767, 20_000),  # P80
    ],
)
def test_disk_iops_ceilings(disk_type, size, ceiling):
    assert azure.disk_iops_ceiling(disk_type, size) == ceiling


def test_disk_limits():
    assert azure.CLOUD.disk_types == ("PremiumV2_LRS", "Premium_LRS")
    assert azure.CLOUD.disk_iops_min == 3000 and azure.CLOUD.disk_iops_max == 80_000
    with pytest.raises(KeyError):
        azure.disk_iops_ceiling("gp3", 100)
    with pytest.raises(StopIteration):
        azure.disk_iops_ceiling("Premium_LRS", azure.DISK_SIZE_GB_MAX + 1)


# --- tags ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key,problem",
    [
        ("owner", None),
        ("cost-center", None),
        ("data classification:level", None),
        ("k" * 128, None),
        ("k" * 129, "1 to 128 characters"),
        ("", "1 to 128 characters"),
        ("a/b", "may not contain"),
        ("50%", "may not contain"),
        ("x<y", "may not contain"),
        ("what?", "may not contain"),
        ("back\\slash", "may not contain"),
        ("R&D", "may not contain"),
        ("Microsoft.Owner", "reserved for Azure"),
        ("azure-team", "reserved for Azure"),
        ("WindowsVersion", "reserved for Azure"),
    ],
)
def test_tag_keys(key, problem):
    found = azure.tag_key_problem(key)
    assert (found is None) if problem is None else (problem in found), found


@pytest.mark.parametrize(
    "value,problem",
    [("", None), ("a/b?c&d", None), ("v" * 256, None), ("v" * 257, "at most 256 characters (257 given)")],
)
def test_tag_values(value, problem):
    found = azure.tag_value_problem(value)
    assert (found is None) if problem is None else (problem in found)


def test_the_platforms_own_tag_keys_follow_the_rules():
    assert all(azure.tag_key_problem(k) is None for k in ("owner", "cost-center", "data-classification", "stage"))
    assert azure.CLOUD.tags_per_resource == 50


# --- network and the load balancer -----------------------------------------------------------------------------


def test_azure_keeps_the_first_four_and_the_last_address():
    assert azure.reserved_addresses("10.40.0.0/26") == (
        "10.40.0.0",
        "10.40.0.1",
        "10.40.0.2",
        "10.40.0.3",
        "10.40.0.63",
    )
    smallest = ipaddress.ip_network(f"10.40.0.0/{azure.SUBNET_PREFIX_MAX}")
    assert smallest.num_addresses - len(azure.reserved_addresses(str(smallest))) == 3  # a /29 leaves three
    assert azure.NODE_HOST_OFFSET >= azure.SUBNET_RESERVED_FIRST


def test_the_router_is_the_standard_load_balancers_fastest_probe():
    check = azure.CLOUD.router.check
    assert check.interval_seconds == azure.PROBE_INTERVAL_MIN == 5
    assert check.fall == check.rise >= azure.PROBE_THRESHOLD_MIN  # probeThreshold decides both directions
    assert check.timeout_seconds < check.interval_seconds
    assert check.admission_seconds == 10


def test_the_probe_limits_are_the_sdk_models():
    network = pytest.importorskip("azure.mgmt.network")
    doc = network.models.Probe.__doc__
    assert "the minimum value is 5" in " ".join(doc.split())
    assert "equal to this value, the endpoint will be taken out of rotation and require the same number" in " ".join(
        doc.split()
    )


# --- stage names -----------------------------------------------------------------------------------------------


def test_the_stage_name_limit_follows_the_storage_account_name():
    longest = "s" * azure.STAGE_NAME_MAX
    named = azure.storage_account_logical_name(longest) + "0" * azure.AUTONAME_RANDOM_CHARS
    assert len(named) == azure.STORAGE_ACCOUNT_NAME_MAX and named.isalnum() and named == named.lower()
    assert len(azure.key_vault_logical_name(longest)) + azure.AUTONAME_RANDOM_CHARS <= azure.KEY_VAULT_NAME_MAX
    assert azure.STAGE_NAME_MAX == 7 and "storage account" in azure.STAGE_NAME_REASON


# --- peers -----------------------------------------------------------------------------------------------------

VNET = (
    "/subscriptions/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/resourceGroups/app-prod-rg"
    "/providers/Microsoft.Network/virtualNetworks/app-prod-vnet"
)


def peers(value, cidr="10.40.0.0/16"):
    r = Reader()
    parsed, declared = azure.parse_peers(r, value, cidr, "westeurope")
    return parsed, declared, [f"{p.key}: {p.message}" for p in r.problems]


def test_a_peer_names_its_vnet_by_resource_id():
    parsed, declared, problems = peers([{"name": "app-prod", "vnet_id": VNET, "cidr": "10.50.0.0/16"}])
    assert not problems and declared == {"app-prod"}
    (peer,) = parsed
    assert peer.subscription_id == "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
    assert (peer.resource_group, peer.vnet_name, peer.cidr) == ("app-prod-rg", "app-prod-vnet", "10.50.0.0/16")


@pytest.mark.parametrize(
    "entry,problem",
    [
        ({"name": "app", "vnet_id": "vnet-0a1b2c3d", "cidr": "10.50.0.0/16"}, "not a virtual network resource id"),
        (
            {"name": "app", "vnet_id": VNET.replace("0b1c2d3e-", "0b1c2d3e"), "cidr": "10.50.0.0/16"},
            "not a virtual network resource id",
        ),
        (
            {"name": "app", "vnet_id": VNET.replace("app-prod-vnet", "-vnet"), "cidr": "10.50.0.0/16"},
            "names a virtual network Azure would refuse",
        ),
        (
            {"name": "app", "vnet_id": VNET.replace("app-prod-rg", "rg."), "cidr": "10.50.0.0/16"},
            "names a resource group Azure would refuse",
        ),
        ({"name": "app", "vnet_id": VNET, "cidr": "10.40.128.0/20"}, "overlaps the platform VNet"),
        ({"name": "App_1", "vnet_id": VNET, "cidr": "10.50.0.0/16"}, "network.peers[0].name"),
        ({"name": "app", "vnet_id": VNET, "cidr": "10.50.0.0/16", "account_id": "1"}, "unknown key"),
    ],
)
def test_bad_peers_are_refused(entry, problem):
    parsed, _declared, problems = peers([entry])
    assert any(problem in p for p in problems), problems
    assert not parsed or problem == "unknown key"  # an unknown key fails the settings, not the peer


def test_the_same_vnet_twice_is_refused_whatever_its_casing():
    parsed, _, problems = peers(
        [
            {"name": "a", "vnet_id": VNET, "cidr": "10.50.0.0/16"},
            {
                "name": "b",
                "vnet_id": VNET.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"),
                "cidr": "10.60.0.0/16",
            },
            {"name": "a", "vnet_id": VNET.replace("app-prod-vnet", "other"), "cidr": "10.70.0.0/16"},
            {"name": "c", "vnet_id": VNET.replace("app-prod-vnet", "third"), "cidr": "10.50.128.0/17"},
        ]
    )
    assert [p.name for p in parsed] == ["a"]
    assert any("VNet of network.peers[0] too" in p for p in problems)
    assert any("name of an earlier peer" in p for p in problems)
    assert any("overlaps network.peers[0]" in p for p in problems)


def test_allowlisted_security_groups_are_refused_with_the_peers_cidr():
    parsed, declared, _ = peers([{"name": "app-prod", "vnet_id": VNET, "cidr": "10.50.0.0/16"}])
    r = Reader()
    groups = azure.parse_peer_groups(
        r,
        "network.allowlist.security_groups",
        [{"peer": "app-prod", "id": "asg-1"}, "asg-2"],
        "westeurope",
        {p.name: p for p in parsed},
        declared,
    )
    assert groups == ()
    assert [p.fix for p in r.problems] == [
        "allowlist the peer's CIDR 10.50.0.0/16 instead",
        "allowlist the clients' CIDRs instead",
    ]
    assert all("never from a peered one" in p.message for p in r.problems)
    assert azure.parse_peer_groups(Reader(), "k", [], None, {}, set()) == ()


# --- a whole stage through the cloud-neutral settings ----------------------------------------------------------


def azure_raw():
    raw, _region = raw_settings("prod")
    raw = copy.deepcopy(raw)
    raw["cloud"] = "azure"
    raw["network"]["zones"] = ["1", "2", "3"]
    raw["network"]["peers"] = [{"name": "app-prod", "vnet_id": VNET, "cidr": "10.50.0.0/16"}]
    raw["network"]["allowlist"] = {"cidrs": ["10.50.0.0/16"]}
    raw["cluster"].update(
        instance_type="Standard_E4ds_v5", monitoring_instance_type="Standard_D2s_v5", disk_type="PremiumV2_LRS"
    )
    return raw


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(CLOUDS, "azure", azure.CLOUD)
    monkeypatch.setattr(settings_module, "SUPPORTED_CLOUDS", (*settings_module.SUPPORTED_CLOUDS, "azure"))


def test_a_prod_stage_on_azure_derives_its_failover_from_the_load_balancer(registered):
    settings = parse_settings(azure_raw(), "azure-prod", "westeurope")
    assert settings.cloud_facts is azure.CLOUD and settings.network.zones == ("1", "2", "3")
    topology = derive_topology(settings)
    text = str(topology.__dict__)
    assert "Azure Standard Load Balancer" in text


def test_an_azure_stage_reports_each_azure_problem(registered):
    raw = azure_raw()
    raw["stage"] = "production"
    raw["network"]["zones"] = ["1", "2", "westeurope-3"]
    raw["network"]["allowlist"]["security_groups"] = [{"peer": "app-prod", "id": "asg"}]
    raw["cluster"]["instance_type"] = "r7i.xlarge"
    raw["cluster"]["disk_type"] = "Premium_LRS"  # 500 GB is a P20: 2300 IOPS, below the 6000 asked
    raw["tags"]["Microsoft-owner"] = "x"
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw, "azure-prod", "westus")
    message = str(caught.value)
    for part in (
        "pg-platform:stage",
        "at most 7",
        "westus offers no availability zones",
        "zone number alone",
        "never from a peered one",
        "not an Azure VM size name",
        "lower disk_iops to 2300",
        "reserved for Azure",
    ):
        assert part in message, part
