"""The libtorrent sessions of the integration tests, set up in one place.

Imports libtorrent, so it runs only under Debian's /usr/bin/python3 (the
python3-libtorrent 2.0 binding; see shared/reference/clients.md). Scripts in
this directory import it by name: Python puts a script's own directory first
on sys.path.

A test session talks only to the peers its test names: no DHT, local peer
discovery, UPnP or NAT-PMP, and TCP only (uTP off), so nothing outside the
machine is contacted and every connection is the one the test made. It
listens on loopback and reports errors and status changes, plus whatever
alert categories the caller adds.
"""
import libtorrent as lt

# Every test session has these; a caller's own settings come on top.
ISOLATED = {
    'enable_dht': False,
    'enable_lsd': False,
    'enable_upnp': False,
    'enable_natpmp': False,
    'enable_incoming_utp': False,
    'enable_outgoing_utp': False,
}


def session(listen='127.0.0.1:0', alerts=0, **settings):
    """A new lt.session listening on `listen` (an IPv6 one as '[::1]:0').

    alerts: lt.alert.category_t flags wanted besides error and status
    notifications. settings: further settings_pack names and values (e.g.
    out_enc_policy); None values are left at libtorrent's default.
    """
    cat = lt.alert.category_t
    pack = dict(ISOLATED)
    pack['listen_interfaces'] = listen
    pack['alert_mask'] = cat.error_notification | cat.status_notification | alerts
    pack.update({k: v for k, v in settings.items() if v is not None})
    return lt.session(pack)
