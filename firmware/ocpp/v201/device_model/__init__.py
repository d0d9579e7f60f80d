"""The OCPP 2.0.1 device model (B05-B08): components and variables defined as data, one TOML file per
component in `components/`, instantiated for this installation and kept in SQLite.

- `definitions`: the shape of a component file and its loader (the files are checked as they load);
- `values`: each dataType's validation and canonical text form;
- `keys`: the text address of a variable (`EVSE#1.EVSE.Power`, presets in `[ocpp.device_model]`);
- `model`: the live, persistent device model (Get/SetVariables semantics);
- `reports`: GetBaseReport/GetReport selection and their NotifyReport parts.
"""
