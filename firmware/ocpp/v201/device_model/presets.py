"""What `[ocpp.device_model]` may preset for an installation (`chargepi config keys` lists it)."""

from __future__ import annotations

from firmware.ocpp.v201.device_model.definitions import load_components
from firmware.ocpp.v201.device_model.installation import InstallationSettings, installation_from
from firmware.ocpp.v201.device_model.model import DeviceModel, check_presets


def presettable(settings: InstallationSettings) -> dict[str, str]:
    """{key text: default} of every attribute an installer may preset (not live, not ReadOnly unless the
    component file allows it, never WriteOnly: credentials live in secrets.toml)."""
    assert settings.ocpp is not None
    model = DeviceModel.build(load_components(), installation_from(settings, settings.ocpp), None, {},
                              _unread)
    out = {}
    for key in model.attribute_keys():
        variable = model.find(key.variable.component, key.variable.name, key.variable.instance)
        assert not isinstance(variable, str)
        attribute = variable.definition.attribute(key.type)
        assert attribute is not None
        if variable.definition.live or attribute.mutability == "WriteOnly":
            continue
        if attribute.mutability == "ReadOnly" and not variable.definition.preset:
            continue
        out[key.text()] = model.read(key) or ""
    return out


def check(settings: InstallationSettings) -> None:
    """ValueError naming every `[ocpp.device_model]` entry this installation does not take."""
    ocpp = settings.ocpp
    if ocpp is not None and ocpp.device_model:
        check_presets(load_components(), installation_from(settings, ocpp), ocpp.device_model)


def _unread(key: object) -> str:
    raise AssertionError("presets read no live value")
