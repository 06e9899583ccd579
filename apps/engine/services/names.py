"""Readable names for runs that arrive without one (`brave-otter`), as Prefect's server gives them."""

from __future__ import annotations

import secrets

_ADJECTIVES = (
    "amber", "bold", "brave", "bright", "calm", "classy", "clever", "cosmic", "crimson", "daring", "eager",
    "electric", "fancy", "fearless", "gentle", "golden", "grumpy", "happy", "hidden", "humble", "icy", "jolly",
    "keen", "lively", "lucky", "mellow", "misty", "nimble", "noble", "olive", "patient", "polite", "proud",
    "quick", "quiet", "rapid", "rustic", "sandy", "shiny", "silent", "silver", "smart", "snowy", "solid",
    "spry", "stellar", "sturdy", "sunny", "swift", "tidy", "tranquil", "vivid", "warm", "wise", "witty", "zesty",
)
_ANIMALS = (
    "albatross", "alpaca", "badger", "bear", "beaver", "bison", "bobcat", "caracal", "cheetah", "condor",
    "coyote", "crane", "dingo", "dolphin", "eagle", "falcon", "ferret", "finch", "fox", "gazelle", "gecko",
    "heron", "hyena", "ibex", "jackal", "jaguar", "koala", "lemur", "leopard", "lion", "llama", "lynx",
    "marmot", "mink", "moose", "narwhal", "ocelot", "orca", "otter", "owl", "panda", "pelican", "puffin",
    "quokka", "raven", "salamander", "seal", "sparrow", "stoat", "tapir", "tiger", "toucan", "walrus",
    "wolf", "wombat", "yak", "zebra",
)


def run_name() -> str:
    """An adjective and an animal; not unique (runs are told apart by id)."""
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_ANIMALS)}"
