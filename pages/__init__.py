"""What every app's pages share: number formatting, the live-page context and query parsing.

It sits below the device apps (whose views use it) and above what it needs: the portal's
request-plant resolver (``portal.roles.request_plant``) and the live snapshot in Redis
(``redisconn.snapshots``). It imports no app's models and nothing of plant/.
"""
