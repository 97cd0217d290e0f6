"""The request console's core: requests as data, cURL in and out, environments, history,
rate-limit headers, sending with honest timings, bursts, and what the gateway did.

Qt-free: the widgets in ``ui/console`` and the pages ``ui/pages/request_console.py`` and
``ui/pages/traffic.py`` are thin views over these modules.
"""
