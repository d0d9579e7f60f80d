"""The display's own texts in every language it ships; the CSMS's price texts come with their language.
A language missing here falls back to English, text by text."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "Available": "Plug in to charge", "Preparing": "Present your card", "Charging": "Charging",
        "SuspendedEV": "Car paused charging", "SuspendedEVSE": "Charging paused",
        "Finishing": "Unplug the car",
        "Reserved": "Reserved", "Unavailable": "Out of service", "Faulted": "Fault - call service",
        "offline": "Offline", "energy": "{kwh} kWh", "cost": "Cost {cost}", "total": "Total {cost}",
        "thanks": "Thank you",
    },
    "de": {
        "Available": "Zum Laden einstecken", "Preparing": "Karte vorhalten", "Charging": "Ladevorgang läuft",
        "SuspendedEV": "Fahrzeug pausiert", "SuspendedEVSE": "Laden pausiert", "Finishing": "Kabel abziehen",
        "Reserved": "Reserviert", "Unavailable": "Außer Betrieb", "Faulted": "Störung - Service",
        "offline": "Offline", "energy": "{kwh} kWh", "cost": "Kosten {cost}", "total": "Gesamt {cost}",
        "thanks": "Vielen Dank",
    },
    "fr": {
        "Available": "Branchez pour charger", "Preparing": "Présentez votre carte",
        "Charging": "Charge en cours",
        "SuspendedEV": "Véhicule en pause", "SuspendedEVSE": "Charge en pause", "Finishing": "Débranchez",
        "Reserved": "Réservé", "Unavailable": "Hors service", "Faulted": "Défaut - service",
        "offline": "Hors ligne", "energy": "{kwh} kWh", "cost": "Coût {cost}", "total": "Total {cost}",
        "thanks": "Merci",
    },
    "nl": {
        "Available": "Steek de stekker in", "Preparing": "Houd uw pas voor", "Charging": "Bezig met laden",
        "SuspendedEV": "Auto pauzeert", "SuspendedEVSE": "Laden gepauzeerd", "Finishing": "Kabel loskoppelen",
        "Reserved": "Gereserveerd", "Unavailable": "Buiten gebruik", "Faulted": "Storing - service",
        "offline": "Offline", "energy": "{kwh} kWh", "cost": "Kosten {cost}", "total": "Totaal {cost}",
        "thanks": "Bedankt",
    },
}
LANGUAGES = tuple(TEXTS)


def text(language: str, key: str, **values: str) -> str:
    template = TEXTS.get(language, TEXTS["en"]).get(key) or TEXTS["en"].get(key, key)
    return template.format(**values)


def pick(by_language: dict[str, str], language: str) -> str | None:
    """The text in `language`, else in English, else any (CSMS texts come in the languages it has)."""
    if not by_language:
        return None
    return by_language.get(language) or by_language.get("en") or next(iter(by_language.values()))


def language_of(tag: str) -> str:
    """The language of an RFC 5646 tag as the texts are keyed: "de-CH" -> "de"."""
    return tag.split("-")[0].strip().lower()
