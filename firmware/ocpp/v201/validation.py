"""Schema check of a CSMS request in OCPP 2.0.1, with the OCPP-J 2.0.1 error code for each violation.

The `ocpp` library's `validate_payload` names schema violations as 1.6 does (a missing required field is a
ProtocolError, an unknown field a FormatViolation); OCPP-J 2.0.1 Part 4 §4.3 (docs/reference/ocpp-j-rpc.md)
defines finer codes, and this check answers with them, using the library's own cached validator of the
request's schema. The JSON-schema keyword that failed decides (`CODES`):

* TypeConstraintViolation: a value of the wrong JSON type, or a string longer or shorter than its data
  type allows (`string[36]`, `identifierString[20]` are data types in 2.0.1);
* OccurrenceConstraintViolation: a required field missing, an array with too few or too many elements;
* PropertyConstraintViolation: a value outside what the field allows (not in its enumeration, below its
  minimum, above its maximum, not matching its format);
* FormatViolation: anything else, such as a field the message does not have.
"""

from __future__ import annotations

from jsonschema.exceptions import ValidationError as SchemaError
from ocpp.exceptions import (
    FormatViolationError,
    OccurrenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    TypeConstraintViolationError,
)
from ocpp.messages import Call, MessageType, get_validator

VERSION = "2.0.1"
CODES: dict[str, type[OCPPError]] = {
    "type": TypeConstraintViolationError,
    "maxLength": TypeConstraintViolationError,
    "minLength": TypeConstraintViolationError,
    "required": OccurrenceConstraintViolationError,
    "minItems": OccurrenceConstraintViolationError,
    "maxItems": OccurrenceConstraintViolationError,
    "enum": PropertyConstraintViolationError,
    "minimum": PropertyConstraintViolationError,
    "maximum": PropertyConstraintViolationError,
    "exclusiveMinimum": PropertyConstraintViolationError,
    "exclusiveMaximum": PropertyConstraintViolationError,
    "multipleOf": PropertyConstraintViolationError,
    "pattern": PropertyConstraintViolationError,
    "format": PropertyConstraintViolationError,
}


async def validate_request(msg: Call) -> None:
    """Raise the OCPP-J 2.0.1 OCPPError for the first violation of `msg`'s request schema."""
    validator = get_validator(MessageType.Call, msg.action, VERSION)
    try:
        validator.validate(msg.payload)
    except SchemaError as error:
        where = "/".join(str(part) for part in error.absolute_path) or "the payload"
        raise CODES.get(str(error.validator), FormatViolationError)(
            details={"cause": f"{msg.action} {where}: {error.message}"}) from None
