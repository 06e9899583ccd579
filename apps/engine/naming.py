"""Readable random names for flow runs that were created without one ("crimson-otter"), as Prefect gives."""

from __future__ import annotations

import secrets


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ADJECTIVES = _words(
    "amber azure bold brave bright brisk calm candid clever cobalt cosmic crimson curious daring dapper "
    "eager electric emerald fancy fearless fiery floral friendly gentle gilded glowing golden graceful "
    "hasty humble icy indigo infrared jade jolly keen khaki lavender lilac lively lucky lunar magenta "
    "mellow merry mighty misty modest nimble noble olive onyx opal orange pastel patient peach placid "
    "plucky polite proud quick quiet rapid rosy ruby russet rustic sage sandy sapphire scarlet serene "
    "shiny silent silver smart snowy solar spirited steady stellar sturdy sunny swift tan teal tidy topaz "
    "tranquil turquoise ultraviolet upbeat valiant velvet vermilion violet vivid warm wise witty zealous "
    "zesty"
)
_ANIMALS = _words(
    "albatross alpaca antelope armadillo badger beagle bear beaver bison bobcat buffalo camel caracal cat "
    "chameleon cheetah chipmunk cobra condor cormorant coyote crane cricket crow dingo dolphin donkey "
    "dove eagle eel elk falcon fennec ferret finch flamingo fox frog gazelle gecko gibbon giraffe goose "
    "gopher grouse hamster hare hawk hedgehog heron hornet hyena ibex iguana impala jackal jaguar "
    "kangaroo kestrel kingfisher koala lemur leopard lion lizard llama lobster lynx macaw magpie mammoth "
    "manatee marmot mink mole mongoose moose narwhal newt ocelot octopus orca oriole osprey ostrich otter "
    "owl panda panther parrot pelican penguin petrel pheasant pig pony porcupine puffin puma quail rabbit "
    "raccoon raven reindeer rhino robin salamander seal shark sheep skunk sloth snail sparrow squid "
    "starling stork swan tapir tarsier tiger toad toucan turtle uakari viper vulture walrus wallaby "
    "weasel whale wolf wombat woodpecker yak zebra"
)


def run_name() -> str:
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_ANIMALS)}"
