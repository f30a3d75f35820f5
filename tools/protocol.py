"""The engine's wire encoding of property values (pulumi/runtime/rpc.py): the runner decodes what the program
registers, and the analyzer client encodes it again for the policy pack, so both read these from here.
tests/policy/test_protocol.py keeps them equal to the SDK's own (private) definitions."""

from __future__ import annotations

# A map carrying this key is a special value; the key's value says which kind.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
# What a value not known until the resource exists (an id, an ARN during preview) reads as.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
