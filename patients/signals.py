"""What other apps may want to hear from the patient register.

``patient_merged`` is sent inside the merge's transaction, after the orders
moved, with ``source`` and ``target`` patients: apps that keep their own copy
of an order's patient (scheduling's appointments) follow it. A signal rather
than a call, because patients sits below those apps and must not import them.
"""

from __future__ import annotations

from django.dispatch import Signal

patient_merged = Signal()
