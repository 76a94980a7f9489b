"""The GATT table: the services and characteristics of docs/protocol.md with their
flags, the radio's settings, the advertising payloads, and the values written once. `register(svc)` runs once, at
BandService.start(), which drops this module after (app.unload): its code is not kept
in RAM.
"""
from repcore import protocol as P
from repcore.compat import const

_F_READ = const(0x0002)
_F_WRITE = const(0x0008)
_F_NOTIFY = const(0x0010)
_F_INDICATE = const(0x0020)
_F_READ_ENC = const(0x0200)  # NimBLE (esp32): ATT error 0x0F on an unencrypted link
_F_WRITE_ENC = const(0x1000)

_IO_NO_INPUT_OUTPUT = const(3)

MTU_PREFERRED = const(247)

# repcore.protocol's values (folded here: tests/test_app_constants.py ties them).
_SERVICE_UUID16 = const(0x0001)
_STATUS_UUID16 = const(0x0002)
_LIVE_UUID16 = const(0x0003)
_RECORDS_UUID16 = const(0x0004)
_RACP_UUID16 = const(0x0005)
_CONTROL_UUID16 = const(0x0006)
_RAW_UUID16 = const(0x0007)
_SETTINGS_UUID16 = const(0x0008)
_IDENTITY_UUID16 = const(0x0009)
_DIS_SERVICE = const(0x180A)
_DIS_MANUFACTURER = const(0x2A29)
_DIS_MODEL = const(0x2A24)
_DIS_FIRMWARE = const(0x2A26)
_DIS_SOFTWARE = const(0x2A28)
_BATTERY_SERVICE = const(0x180F)
_BATTERY_LEVEL = const(0x2A19)
_CTS_SERVICE = const(0x1805)
_CTS_CURRENT_TIME = const(0x2A2B)
_STATUS_SIZE = const(24)


def uuid128_le(s):
    """The 16 little-endian bytes of a 128-bit UUID string (advertising data)."""
    from binascii import unhexlify
    b = unhexlify(s.replace("-", ""))
    out = bytearray(16)
    for i in range(16):
        out[i] = b[15 - i]
    return bytes(out)


def _config(ble, **kw):
    try:
        ble.config(**kw)
    except (ValueError, OSError):  # a port without the setting
        pass


def register(svc):
    """Set the radio up and register the services; the handles and the advertising
    payloads go on `svc`."""
    ble = svc._ble
    bt, model, firmware, identity = svc._gatt
    svc._gatt = None
    service = P.uuid128(_SERVICE_UUID16)
    svc._adv = b"\x02\x01\x06" + bytes((17, 0x07)) + uuid128_le(service)
    nm = svc.name.encode()[:26]
    svc._resp = bytes((len(nm) + 1, 0x09)) + nm
    _config(ble, gap_name=svc.name)
    _config(ble, mtu=MTU_PREFERRED)
    if svc.secure:
        # LE Secure Connections, bonding, no I/O (Just Works): see the threat model.
        _config(ble, bond=True, le_secure=True, mitm=False, io=_IO_NO_INPUT_OUTPUT)
    U = bt.UUID
    enc_r = _F_READ_ENC if svc.secure else 0
    enc_w = _F_WRITE_ENC if svc.secure else 0
    custom = (U(service), (
        (U(P.uuid128(_STATUS_UUID16)), _F_READ | enc_r),
        (U(P.uuid128(_LIVE_UUID16)), _F_READ | _F_NOTIFY | enc_r),
        (U(P.uuid128(_RECORDS_UUID16)), _F_NOTIFY),
        (U(P.uuid128(_RACP_UUID16)), _F_WRITE | _F_INDICATE | enc_w),
        (U(P.uuid128(_CONTROL_UUID16)), _F_WRITE | _F_INDICATE | enc_w),
        (U(P.uuid128(_RAW_UUID16)), _F_NOTIFY),
        (U(P.uuid128(_SETTINGS_UUID16)), _F_READ | enc_r),
        (U(P.uuid128(_IDENTITY_UUID16)), _F_READ | enc_r),
    ))
    dis = (U(_DIS_SERVICE), (
        (U(_DIS_MANUFACTURER), _F_READ),
        (U(_DIS_MODEL), _F_READ),
        (U(_DIS_FIRMWARE), _F_READ),
        (U(_DIS_SOFTWARE), _F_READ),
    ))
    bas = (U(_BATTERY_SERVICE), ((U(_BATTERY_LEVEL), _F_READ | _F_NOTIFY | enc_r),))
    cts = (U(_CTS_SERVICE), ((U(_CTS_CURRENT_TIME), _F_READ | _F_WRITE | enc_r | enc_w),))
    h = ble.gatts_register_services((custom, dis, bas, cts))
    (svc.h_status, svc.h_live, svc.h_records, svc.h_racp, svc.h_control, svc.h_raw,
     svc.h_settings, h_identity) = h[0]
    (h_man, h_model, h_fw, h_sw) = h[1]
    svc.h_battery = h[2][0]
    svc.h_time = h[3][0]
    svc.handles = h
    # Values over 20 bytes and every writable value get an explicit buffer.
    ble.gatts_set_buffer(svc.h_status, _STATUS_SIZE)
    ble.gatts_set_buffer(svc.h_racp, 20)
    ble.gatts_set_buffer(svc.h_control, 20)
    ble.gatts_set_buffer(svc.h_time, 20)
    ble.gatts_write(h_man, b"repband")
    ble.gatts_write(h_model, model.encode()[:20])
    ble.gatts_write(h_fw, firmware.encode()[:20])
    ble.gatts_write(h_sw, P.VERSION_STRING.encode())
    ble.gatts_write(svc.h_battery, bytes((svc.battery if 0 <= svc.battery <= 100 else 0,)))
    if svc._settings is not None:
        ble.gatts_write(svc.h_settings, svc._settings)
    if identity is not None:
        ble.gatts_write(h_identity, identity)
