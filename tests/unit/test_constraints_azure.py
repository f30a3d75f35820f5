"""The offline run refuses what Azure or pulumi-azure-native refuses: names are auto-named as the provider does it
(random suffix, copy, UUID), and every recorded input is checked against the limits read from the azure-mgmt
SDKs (path parameter checks, `_validation` maps, member documentation) and Microsoft's naming and tag rules."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from stacks.clouds import azure as facts
from tests.unit.constraint_helpers import violations
from tools.constraints import autoname_rule, naming, registry
from tools.constraints import azure as az
from tools.runner import ConstraintError, run_stack

SDK = Path(__import__("pulumi_azure_native").__file__).parent


def broken(token: str, inputs: dict, path: str | None = None) -> list[str]:
    return [f"{v.path}: {v.source}: {v.limit}" for v in violations(token, inputs) if path is None or v.path == path]


RG = {"resourceGroupName": "pgp-prod"}
FIC = "azure-native:managedidentity:FederatedIdentityCredential"
FEDERATION = {
    "resourceName": "pgp-aksdev-backup-identity-backup1a2b3c4d",
    "issuer": "https://westeurope.oic.prod-aks.azure.com/3f1e2d4c-5b6a-4798-8a1b-2c3d4e5f6a7b/8c9d0e1f-2a3b-4c5d-9e6f-7a8b9c0d1e2f/",
    "subject": "system:serviceaccount:pgp-aksdev:pgp-aksdev",
    "audiences": ["api://AzureADTokenExchange"],
}
SUB = "/subscriptions/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/resourceGroups/pgp-prod/providers"


# --- a whole offline run -------------------------------------------------------------------------------------


def test_a_storage_account_name_too_long_after_auto_naming_fails_the_plan(tmp_path):
    (tmp_path / "__main__.py").write_text(
        textwrap.dedent(
            """
            import pulumi_azure_native as azn
            azn.storage.StorageAccount("pgpproductionbackup", resource_group_name="pgp-prod", kind="StorageV2",
                                       sku={"name": "Standard_ZRS"})
            azn.storage.StorageAccount("pgpprodbackup", resource_group_name="pgp-prod", kind="StorageV2",
                                       sku={"name": "Standard_ZRS"})
            """
        )
    )
    (tmp_path / "Pulumi.planted.yaml").write_text("config:\n  azure-native:location: westeurope\n")
    with pytest.raises(ConstraintError) as caught:
        run_stack("planted", root=tmp_path)
    message = str(caught.value)
    name = re.search(r"pgpproductionbackup[0-9a-f]{8}\b", message).group(0)
    assert len(name) == 27
    assert f"accountName = '{name}' (27 chars)" in message
    assert "azure.mgmt.storage 24.0.1 _storage_accounts_operations.build_create_request path accountName" in message
    assert "length 3..24" in message
    assert "pgpprodbackup" not in message.replace("pgpproductionbackup", "")  # 21 characters fit


def test_the_stage_name_limit_is_the_one_the_constraint_check_enforces():
    """The auto-named storage account of the longest stage passes; one character more fails."""
    token = "azure-native:storage:StorageAccount"
    rule = autoname_rule(token)
    for stage, ok in (("s" * facts.STAGE_NAME_MAX, True), ("s" * (facts.STAGE_NAME_MAX + 1), False)):
        logical = facts.storage_account_logical_name(stage)
        named = naming.compute(rule, f"urn:pulumi:{stage}::pg-platform::{token}::{logical}", {})
        assert named is not None and named.in_inputs
        assert bool(broken(token, {**RG, "accountName": named.value}, "accountName")) is not ok


# --- auto-naming -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token,prop,strategy",
    [
        ("azure-native:resources:ResourceGroup", "resourceGroupName", "random"),  # no "microsoft." in its path
        ("azure-native:storage:StorageAccount", "accountName", "random"),
        ("azure-native:keyvault:Vault", "vaultName", "random"),
        ("azure-native:network:VirtualNetwork", "virtualNetworkName", "random"),
        ("azure-native:privatedns:PrivateZone", "privateZoneName", "random"),
        ("azure-native:compute:VirtualMachine", "vmName", "random"),
        ("azure-native:network:Subnet", "subnetName", "copy"),
        ("azure-native:network:SecurityRule", "securityRuleName", "copy"),
        ("azure-native:storage:BlobContainer", "containerName", "copy"),
        ("azure-native:storage:BlobContainerImmutabilityPolicy", "immutabilityPolicyName", "copy"),
        ("azure-native:storage:BlobServiceProperties", "blobServicesName", "copy"),
        ("azure-native:keyvault:Secret", "secretName", "copy"),
        ("azure-native:authorization:RoleAssignment", "roleAssignmentName", "uuid"),
    ],
)
def test_auto_naming_follows_the_providers_auto_namer(token, prop, strategy):
    rule = autoname_rule(token)
    assert rule is not None and rule.property == prop and rule.maxlen is None
    urn = f"urn:pulumi:test::pg-platform::{token}::pgp-prod-x"
    value = naming.compute(rule, urn, {}).value
    if strategy == "random":
        assert re.fullmatch(r"pgp-prod-x[0-9a-f]{8}", value)  # no separator, 8 hex digits
    elif strategy == "copy":
        assert value == "pgp-prod-x"
    else:
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", value)
    assert naming.compute(rule, urn, {prop: "given"}) is None  # a name the program gives is kept


def test_the_auto_namer_rules_on_paths():
    assert az.autoname_strategy("/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}")[1] == "random"
    assert az.autoname_strategy("/x/providers/Microsoft.Cdn/profiles/{p}/endpoints/{endpointName}")[1] == "random"
    assert az.autoname_strategy("/{scope}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}")[
        1
    ] == ("uuid")
    assert az.autoname_strategy("/x/providers/Microsoft.Network/virtualNetworks/{v}/subnets/{s}") == ("s", "copy")
    with pytest.raises(ValueError):
        az.autoname_strategy("/x/providers/Microsoft.Storage/storageAccounts/{a}/blobServices/default")


def test_a_copied_child_name_that_must_be_default_is_refused():
    """pulumi-azure-native copies the logical name into immutabilityPolicyName; Azure accepts only 'default'."""
    token = "azure-native:storage:BlobContainerImmutabilityPolicy"
    named = naming.compute(autoname_rule(token), f"urn:pulumi:t::p::{token}::pgp-prod-lock", {})
    inputs = {**RG, "accountName": "pgpprodbackup", "containerName": "pgbackrest"}
    assert broken(token, {**inputs, "immutabilityPolicyName": named.value}, "immutabilityPolicyName")
    assert not broken(token, {**inputs, "immutabilityPolicyName": "default"})


# --- where the rules come from ------------------------------------------------------------------------------


def test_the_path_checks_are_read_from_the_sdk_request_builders():
    account = az.request(az.BY_TOKEN["azure-native:storage:StorageAccount"].builder)
    assert account.method == "PUT" and account.url.endswith("/Microsoft.Storage/storageAccounts/{accountName}")
    assert account.parameters["accountName"].checks == {"max_length": 24, "min_length": 3, "pattern": "^[a-z0-9]+$"}
    assert account.parameters["resourceGroupName"].checks["max_length"] == 90
    vault = az.request(az.BY_TOKEN["azure-native:keyvault:Vault"].builder)
    assert vault.parameters["vaultName"].checks == {"pattern": "^[a-zA-Z0-9-]{3,24}$"}
    blob = az.request(az.BY_TOKEN["azure-native:storage:BlobServiceProperties"].builder)
    assert blob.parameters["BlobServicesName"].literal == ("default",)
    with pytest.raises(LookupError):
        az.request(az.Builder("azure.mgmt.storage", "operations._storage_accounts_operations", "build_nothing"))


def test_a_reworded_docstring_fails_loading_instead_of_dropping_the_check(monkeypatch):
    monkeypatch.setattr(az, "member_doc", lambda model, attr: "The interval, in seconds. The default value is 15.")
    with pytest.raises(ValueError, match="documentation no longer says"):
        az.DOC_RULES[(az._N, "Probe", "interval_in_seconds")][0].constraint(
            az.Model(az._N, "Probe"), "interval_in_seconds"
        )


def pulumi_inputs(token: str) -> set[str]:
    """The input names of a pulumi-azure-native resource, from its Args class's getters."""
    _, module, name = token.split(":")
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower().replace("i_p_", "ip_")
    source = (SDK / module / f"{snake}.py").read_text()
    start = re.search(rf"^class {name}(?:Init)?Args:", source, re.M)  # InitArgs where a type is named {name}Args
    assert start, token
    args = source[start.start() : source.index(f"class {name}(pulumi.CustomResource)")]
    named = set(re.findall(r'@pulumi\.getter\(name="([^"]+)"\)', args))
    plain = set(re.findall(r"@pulumi\.getter\n\s+def (\w+)\(", args))
    return named | {re.sub(r"_(\w)", lambda m: m.group(1).upper(), p) for p in plain}


@pytest.mark.parametrize("token", sorted(az.BY_TOKEN))
def test_every_bound_input_and_auto_name_is_an_input_of_the_pulumi_resource(token):
    inputs = pulumi_inputs(token)
    assert autoname_rule(token).property in inputs
    tc = registry().lookup(token)
    assert tc is not None and tc.bindings
    for binding in tc.bindings:
        top = re.split(r"[.\[{]", binding.path)[0]
        assert top in inputs, (binding.path, sorted(inputs))


def test_every_azure_type_the_issue_names_is_mapped():
    for token in (
        "azure-native:resources:ResourceGroup",
        "azure-native:network:VirtualNetwork",
        "azure-native:network:Subnet",
        "azure-native:network:NetworkSecurityGroup",
        "azure-native:network:SecurityRule",
        "azure-native:network:FlowLog",
        "azure-native:network:VirtualNetworkPeering",
        "azure-native:network:PrivateEndpoint",
        "azure-native:privatedns:PrivateZone",
        "azure-native:storage:StorageAccount",
        "azure-native:storage:BlobContainer",
        "azure-native:storage:BlobContainerImmutabilityPolicy",
        "azure-native:managedidentity:UserAssignedIdentity",
        "azure-native:managedidentity:FederatedIdentityCredential",
        "azure-native:authorization:RoleAssignment",
        "azure-native:keyvault:Vault",
        "azure-native:keyvault:Secret",
        "azure-native:keyvault:Key",
        "azure-native:compute:VirtualMachine",
        "azure-native:network:NetworkInterface",
        "azure-native:compute:Disk",
        "azure-native:compute:DiskEncryptionSet",
        "azure-native:network:LoadBalancer",
        "azure-native:monitor:MetricAlert",
        "azure-native:monitor:ActionGroup",
    ):
        assert token in registry().known_types() and registry().lookup(token) is not None, token
    assert registry().lookup("azure-native:web:WebApp") is None  # unmapped: reported as uncheckable


# --- rule families: passing and failing records ----------------------------------------------------------------


@pytest.mark.parametrize(
    "token,inputs,path,expect",
    [
        # SDK path checks
        ("azure-native:storage:StorageAccount", {"accountName": "pgpprodbackup1a2b3c4d"}, "accountName", None),
        ("azure-native:storage:StorageAccount", {"accountName": "pgp-prod-backup"}, "accountName", "pattern [a-z0-9]+"),
        ("azure-native:storage:StorageAccount", {"accountName": "ab"}, "accountName", "length 3..24"),
        ("azure-native:keyvault:Vault", {"vaultName": "pgp-prod-kv1a2b3c4d"}, "vaultName", None),
        ("azure-native:keyvault:Vault", {"vaultName": "pgp-production-kv1a2b3c4d"}, "vaultName", "{3,24}"),
        ("azure-native:keyvault:Vault", {"vaultName": "1pgp-kv"}, "vaultName", "Naming rules"),
        ("azure-native:keyvault:Vault", {"vaultName": "pgp--kv"}, "vaultName", "no consecutive hyphens"),
        ("azure-native:keyvault:Secret", {"vaultName": "kv1", "secretName": "superuser"}, "secretName", None),
        ("azure-native:keyvault:Secret", {"vaultName": "kv1", "secretName": "super_user"}, "secretName", "pattern"),
        ("azure-native:resources:ResourceGroup", {"resourceGroupName": "pgp-prod"}, "resourceGroupName", None),
        ("azure-native:resources:ResourceGroup", {"resourceGroupName": "pgp-prod."}, "resourceGroupName", "period"),
        ("azure-native:resources:ResourceGroup", {"resourceGroupName": "r" * 91}, "resourceGroupName", "length 1..90"),
        # naming rules page
        ("azure-native:network:VirtualNetwork", {"virtualNetworkName": "pgp-prod-vnet"}, "virtualNetworkName", None),
        ("azure-native:network:VirtualNetwork", {"virtualNetworkName": "v"}, "virtualNetworkName", "length 2..64"),
        ("azure-native:network:Subnet", {"virtualNetworkName": "v1", "subnetName": "db-1."}, "subnetName", "pattern"),
        (
            "azure-native:storage:BlobContainer",
            {"accountName": "a1b", "containerName": "pgbackrest"},
            "containerName",
            None,
        ),
        (
            "azure-native:storage:BlobContainer",
            {"accountName": "a1b", "containerName": "PgBackRest"},
            "containerName",
            "pattern",
        ),
        (
            "azure-native:storage:BlobContainer",
            {"accountName": "a1b", "containerName": "pg--br"},
            "containerName",
            "hyphens",
        ),
        ("azure-native:compute:VirtualMachine", {"vmName": "pgp-prod-db-1a2b3c4d5"}, "vmName", None),
        ("azure-native:compute:VirtualMachine", {"vmName": "db-1-"}, "vmName", "PSRule"),
        (
            "azure-native:compute:DiskEncryptionSet",
            {"diskEncryptionSetName": "pgp-prod-des"},
            "diskEncryptionSetName",
            "pattern",
        ),
        ("azure-native:monitor:MetricAlert", {"ruleName": "pgp prod: no primary"}, "ruleName", "none of"),
        ("azure-native:managedidentity:UserAssignedIdentity", {"resourceName": "id"}, "resourceName", "length 3..128"),
        ("azure-native:authorization:RoleAssignment", {"roleAssignmentName": "reader"}, "roleAssignmentName", "GUID"),
        (
            "azure-native:privatedns:PrivateZone",
            {"privateZoneName": "privatelink.blob.core.windows.net"},
            "privateZoneName",
            None,
        ),
        (
            "azure-native:privatedns:PrivateZone",
            {"privateZoneName": "pgp-prod-zone1a2b3c4d"},
            "privateZoneName",
            "2 to 34 labels",
        ),
        # retired: NSG flow logs
        (
            "azure-native:network:FlowLog",
            {"networkWatcherName": "nw", "targetResourceId": f"{SUB}/Microsoft.Network/virtualNetworks/pgp-prod"},
            "targetResourceId",
            None,
        ),
        (
            "azure-native:network:FlowLog",
            {"networkWatcherName": "nw", "targetResourceId": f"{SUB}/Microsoft.Network/networkSecurityGroups/nsg"},
            "targetResourceId",
            "new NSG flow logs can no longer be created",
        ),
        # body models: _validation maps
        (
            "azure-native:storage:BlobServiceProperties",
            {"accountName": "a1b", "deleteRetentionPolicy": {"enabled": True, "days": 30}},
            "deleteRetentionPolicy.days",
            None,
        ),
        (
            "azure-native:storage:BlobServiceProperties",
            {"accountName": "a1b", "deleteRetentionPolicy": {"enabled": True, "days": 400}},
            "deleteRetentionPolicy.days",
            "_validation['days']: between 1 and 365",
        ),
        (
            "azure-native:storage:BlobContainerImmutabilityPolicy",
            {"accountName": "a1b", "containerName": "pgbackrest", "immutabilityPeriodSinceCreationInDays": 14},
            "immutabilityPeriodSinceCreationInDays",
            None,
        ),
        (
            "azure-native:storage:BlobContainerImmutabilityPolicy",
            {"accountName": "a1b", "containerName": "pgbackrest", "immutabilityPeriodSinceCreationInDays": 0},
            "immutabilityPeriodSinceCreationInDays",
            "between 1 and 146000",
        ),
        ("azure-native:monitor:ActionGroup", {"groupShortName": "pgp-prod"}, "groupShortName", None),
        ("azure-native:monitor:ActionGroup", {"groupShortName": "pgp-production"}, "groupShortName", "max length 12"),
        # body models: documented limits
        (
            "azure-native:network:LoadBalancer",
            {"probes": [{"name": "p", "intervalInSeconds": 5, "port": 8008}]},
            "probes[0].intervalInSeconds",
            None,
        ),
        (
            "azure-native:network:LoadBalancer",
            {"probes": [{"name": "p", "intervalInSeconds": 2, "port": 8008}]},
            "probes[0].intervalInSeconds",
            "the minimum value is 5",
        ),
        (
            "azure-native:network:LoadBalancer",
            {"probes": [{"name": "p", "protocol": "Udp"}]},
            "probes[0].protocol",
            "one of Http, Tcp, Https",
        ),
        (
            "azure-native:network:LoadBalancer",
            {"probes": [{"name": "p", "protocol": "http"}]},
            "probes[0].protocol",
            None,
        ),
        ("azure-native:network:SecurityRule", {"securityRuleName": "r", "priority": 4096}, "priority", None),
        (
            "azure-native:network:SecurityRule",
            {"securityRuleName": "r", "priority": 99},
            "priority",
            "between 100 and 4096",
        ),
        (
            "azure-native:network:NetworkSecurityGroup",
            {"securityRules": [{"name": "r", "priority": 5000}]},
            "securityRules[0].priority",
            "between 100 and 4096",
        ),
        (
            "azure-native:network:NetworkSecurityGroup",
            {"securityRules": [{"name": "r", "protocol": "Sctp"}]},
            "securityRules[0].protocol",
            "Tcp, Udp",
        ),
        (
            "azure-native:network:SecurityRule",
            {"securityRuleName": "r", "description": "d" * 141},
            "description",
            "Restricted to 140 chars",
        ),
        (
            "azure-native:keyvault:Vault",
            {"properties": {"softDeleteRetentionInDays": 90}},
            "properties.softDeleteRetentionInDays",
            None,
        ),
        (
            "azure-native:keyvault:Vault",
            {"properties": {"softDeleteRetentionInDays": 3}},
            "properties.softDeleteRetentionInDays",
            "between 7 and 90",
        ),
        ("azure-native:monitor:MetricAlert", {"severity": 1}, "severity", None),
        ("azure-native:monitor:MetricAlert", {"severity": 5}, "severity", "one of 0, 1, 2, 3, 4"),
        (
            "azure-native:compute:VirtualMachine",
            {"osProfile": {"adminUsername": "pgadmin"}},
            "osProfile.adminUsername",
            None,
        ),
        (
            "azure-native:compute:VirtualMachine",
            {"osProfile": {"adminUsername": "root"}},
            "osProfile.adminUsername",
            "disallowed",
        ),
        (
            "azure-native:compute:VirtualMachine",
            {"osProfile": {"computerName": "c" * 65}},
            "osProfile.computerName",
            "Max-length (Linux)",
        ),
        # federated identity credentials: the SDK's path pattern for the name, Entra ID's page for the fields
        (FIC, {**FEDERATION, "federatedIdentityCredentialResourceName": "pgp-aksdev-pgp-aksdev"}, None, None),
        (
            FIC,
            {**FEDERATION, "federatedIdentityCredentialResourceName": "-pgp"},
            "federatedIdentityCredentialResourceName",
            "pattern",
        ),
        (
            FIC,
            {**FEDERATION, "federatedIdentityCredentialResourceName": "ab"},
            "federatedIdentityCredentialResourceName",
            "pattern",
        ),
        (
            FIC,
            {**FEDERATION, "federatedIdentityCredentialResourceName": "a" * 121},
            "federatedIdentityCredentialResourceName",
            "pattern",
        ),
        (FIC, {**FEDERATION, "issuer": "http://westeurope.oic.prod-aks.azure.com/t/c/"}, "issuer", "https://"),
        (FIC, {**FEDERATION, "subject": "s" * 601}, "subject", "max length 600"),
        (FIC, {**FEDERATION, "audiences": []}, "audiences", "1..1 items"),
        (FIC, {**FEDERATION, "audiences": ["api://AzureADTokenExchange", "b"]}, "audiences", "1..1 items"),
    ],
)
def test_rule_families(token, inputs, path, expect):
    found = broken(token, {**RG, **inputs}, path)
    if expect is None:
        assert not found, found
    else:
        assert found and any(expect in f for f in found), found


def test_custom_data_is_limited_after_base64_decoding():
    import base64

    token = "azure-native:compute:VirtualMachine"
    fits = base64.b64encode(b"x" * 65_535).decode()
    too_big = base64.b64encode(b"x" * 65_536).decode()
    assert not broken(token, {**RG, "osProfile": {"customData": fits}}, "osProfile.customData")
    assert (
        "at most 65535 bytes" in broken(token, {**RG, "osProfile": {"customData": too_big}}, "osProfile.customData")[0]
    )
    assert broken(token, {**RG, "osProfile": {"customData": "not base64!"}}, "osProfile.customData")


def test_tags():
    vnet = "azure-native:network:VirtualNetwork"
    fine = {"owner": "team-data-platform", "cost-center": "CC-4711", "stage": "prod", "k" * 512: "v" * 256}
    assert not broken(vnet, {**RG, "tags": fine})
    assert any("at most 50 items" in f for f in broken(vnet, {**RG, "tags": {f"t{i}": "v" for i in range(51)}}))
    assert any("length 1..512" in f for f in broken(vnet, {**RG, "tags": {"k" * 513: "v"}}))
    assert any("none of" in f for f in broken(vnet, {**RG, "tags": {"a/b": "v"}}))
    assert any("max length 256" in f for f in broken(vnet, {**RG, "tags": {"k": "v" * 257}}))
    account = "azure-native:storage:StorageAccount"
    found = broken(account, {**RG, "tags": {"k" * 129: "v"}}, "tags." + "k" * 129 + " (key)")
    assert found and "no greater than 128 characters" in found[0]
    assert not broken(
        "azure-native:network:Subnet", {**RG, "virtualNetworkName": "v1", "tags": {"a/b": "v"}}
    )  # no tags


def test_values_unknown_during_a_preview_are_not_checked():
    from tools.protocol import UNKNOWN

    assert not broken("azure-native:storage:StorageAccount", {"resourceGroupName": UNKNOWN, "accountName": UNKNOWN})


def test_a_parse_that_fails_the_ast_depth_check_is_repeated_and_other_errors_are_raised(monkeypatch):
    import ast

    real, calls = ast.parse, []

    def flaky(text, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise SystemError("AST constructor recursion depth mismatch (before=60, after=54)")
        return real(text, *args, **kwargs)

    monkeypatch.setattr(az.ast, "parse", flaky)
    tree = az._module_ast.__wrapped__("azure.mgmt.storage", "operations._storage_accounts_operations")
    assert len(calls) == 2 and any(isinstance(n, ast.FunctionDef) for n in tree.body)

    def broken_parse(text, *args, **kwargs):
        raise SystemError("something else")

    monkeypatch.setattr(az.ast, "parse", broken_parse)
    with pytest.raises(SystemError, match="something else"):
        az._module_ast.__wrapped__("azure.mgmt.storage", "operations._storage_accounts_operations")
