"""How dollar amounts read in status, Events and error messages: one rule everywhere.

Cents for ordinary amounts; whole dollars without them (a limit of ``100`` reads
``$100``); below a cent two significant digits, so a small spend or limit never
reads ``$0.00`` next to a percentage that says otherwise.
"""

import math


def usd(amount: float) -> str:
    """``$12.34``, ``$100``, ``$0.00014``."""
    if amount == int(amount):
        return f"${amount:.0f}"
    if abs(amount) >= 0.01:
        return f"${amount:.2f}"
    digits = 1 - math.floor(math.log10(abs(amount)))
    return f"${amount:.{digits}f}".rstrip("0")
