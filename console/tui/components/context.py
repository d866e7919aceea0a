"""What a screen asks of the console that shows it.

Screens sit below the app module (it imports them), so they name the app by this Protocol, never by its
class: the theme in force (``t`` switches it while a screen is open) and the console's clock.
"""

from __future__ import annotations

from typing import Protocol

from console.tui.components.themes import ConsoleTheme
from console.tui.components.vocab import Clock


class ConsoleContext(Protocol):
    console_theme: ConsoleTheme
    clock: Clock
