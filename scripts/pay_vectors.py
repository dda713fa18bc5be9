#!/usr/bin/env python3
"""Checks jiayou's payment-channel cryptography (crates/integrations/src/pay/rsa.rs)
against independent implementations from PyPI. Run by scripts/pay_vectors:

    pay_vectors.py --inputs > in.json                      # the cases
    cargo run -q -p jiayou-integrations --example pay_vectors < in.json \
      | pay_vectors.py --check in.json                     # our outputs, checked

Independent implementations (versions pinned in scripts/pay_vectors):
  * wechatpayv3: WeChat Pay v3 request Authorization (utils.build_authorization),
    notification/answer verification (utils.rsa_verify), paySign (core.Core.sign),
    AEAD_AES_256_GCM decryption (utils.aes_decrypt), key loading.
  * python-alipay-sdk (module `alipay`): RSA2 sign-content ordering (AliPay._ordered_data),
    signing (AliPay._sign), request verification (AliPay._verify), notification
    verification (AliPay.verify, which drops sign_type).
  * cryptography, directly, only where the packages expose nothing: AES-256-GCM
    *encryption* (wechatpayv3 only decrypts) and deriving the public key from the
    private key to compare PEM/base64 encodings.
python-alipay-sdk leaves dropping `sign` and empty values to its caller (Alipay's rule,
as in the official Java SDK's AlipaySignature.getSignContent); this script does that
before handing the parameters to it.
"""
import base64
import json
import sys
import types
from importlib.metadata import version
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
import wechatpayv3.utils as wx
from wechatpayv3.core import Core as WxCore
from alipay import AliPay

ROOT = Path(__file__).resolve().parent.parent
KEY_PEM = (ROOT / "crates/integrations/tests/fixtures/pay/test_rsa_key.pem").read_text()
PACKAGES = ["wechatpayv3", "python-alipay-sdk", "cryptography", "pycryptodomex"]


def inputs():
    order = json.dumps(
        {"appid": "wxd678efh567hg6787", "mchid": "1230000109", "description": "92号汽油 300.00元 · 3号枪",
         "out_trade_no": "JY20260101000001", "amount": {"total": 30000, "currency": "CNY"}},
        ensure_ascii=False, separators=(",", ":"))
    notify_body = json.dumps(
        {"id": "EV-2018022511223320873", "create_time": "2026-01-01T10:00:00+08:00", "event_type": "TRANSACTION.SUCCESS",
         "summary": "支付成功", "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": "abc", "nonce": "fdasflkja484w",
                                          "associated_data": "transaction", "original_type": "transaction"}},
        ensure_ascii=False, separators=(",", ":"))
    wechat = [
        {"kind": "request", "parts": ["POST", "/v3/pay/transactions/jsapi", "1767225600", "593BEC0C930BF1AFEB40B4A08C8FB242", order]},
        {"kind": "request", "parts": ["GET", "/v3/pay/transactions/out-trade-no/JY20260101000001?mchid=1230000109", "1767225601", "N0NCE", ""]},
        {"kind": "notification", "parts": ["1767225602", "fdasflkja484w", notify_body]},
        {"kind": "notification", "parts": ["1767225603", "emptybody", ""]},
        {"kind": "notification", "parts": ["1767225604", "spaces and\ttabs", " {\"a\": \"b\\n\"} \n"]},
        {"kind": "paysign", "parts": ["wxd678efh567hg6787", "1767225605", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "prepay_id=wx201410272009395522657a690389285100"]},
    ]
    key32 = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
    aead_cases = [
        (key32, "uluk4a9R25RW", "transaction", '{"out_trade_no":"JY20260101000001","trade_state":"SUCCESS","payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}'),
        (key32, "fdasflkja484", "", "中文：加油站 92号 ⛽"),
        (key32, "000000000000", "refund", ""),
        ("0123456789abcdef0123456789abcdef", "abcdefghijkl", "certificate", "x" * 1000),
        ("testAPIv3Key0000", "wCq51qZv4Yfg", "aad", "a 16-byte key is AES-128: must be refused"),
    ]
    aead = []
    for key, nonce, aad, plaintext in aead_cases:
        their = base64.b64encode(AESGCM(key.encode()).encrypt(nonce.encode(), plaintext.encode(), aad.encode())).decode()
        aead.append({"key": key, "nonce": nonce, "aad": aad, "plaintext": plaintext, "their_ciphertext": their})
    biz = json.dumps({"out_trade_no": "JY20260101000001", "total_amount": "300.00", "subject": "92号汽油"},
                     ensure_ascii=False, separators=(",", ":"))
    alipay = [
        {"exclude_sign_type": False, "params": [
            ["app_id", "2021000000000000"], ["method", "alipay.trade.create"], ["charset", "utf-8"], ["sign_type", "RSA2"],
            ["timestamp", "2026-01-01 10:00:00"], ["version", "1.0"], ["biz_content", biz],
            ["notify_url", "https://jiayou.example/pay/alipay/notify"]]},
        {"exclude_sign_type": False, "params": [
            ["app_id", "2021000000000000"], ["method", "alipay.trade.query"], ["return_url", ""], ["notify_url", ""],
            ["app_auth_token", ""], ["sign_type", "RSA2"], ["biz_content", "{\"out_trade_no\":\"JY1\"}"],
            ["timestamp", "2026-01-01 10:00:01"], ["version", "1.0"], ["charset", "utf-8"]]},
        {"exclude_sign_type": True, "params": [
            ["gmt_create", "2026-01-01 10:00:00"], ["charset", "utf-8"], ["subject", "92号汽油 300元"], ["sign", "OLDSIGN=="],
            ["sign_type", "RSA2"], ["buyer_id", "2088102534368455"], ["notify_id", "2026010100222155624068450559358070"],
            ["fund_bill_list", "[{\"amount\":\"300.00\",\"fundChannel\":\"ALIPAYACCOUNT\"}]"], ["notify_type", "trade_status_sync"],
            ["trade_status", "TRADE_SUCCESS"], ["total_amount", "300.00"], ["out_trade_no", "JY20260101000001"],
            ["trade_no", "2026010122001468450512505578"], ["app_id", "2021000000000000"], ["passback_params", ""],
            ["version", "1.0"]]},
        {"exclude_sign_type": False, "params": [
            ["b", "x&y=z"], ["a", "50% off + 中文 spaces"], ["B", "upper"], ["a_b", "1"], ["aB", "2"], ["sign_type", "RSA2"]]},
    ]
    return {"wechat": wechat, "aead": aead, "alipay": alipay}


class Checker:
    def __init__(self):
        self.passed = 0
        self.failures = []

    def eq(self, what, ours, theirs):
        if ours == theirs:
            self.passed += 1
        else:
            self.failures.append(f"{what}:\n      ours:   {ours!r}\n      theirs: {theirs!r}")

    def true(self, what, cond):
        self.eq(what, bool(cond), True)


def one_byte_off(s):
    b = bytearray(s.encode())
    if b:
        b[-1] ^= 1
    else:
        b += b"x"
    return b.decode("utf-8", "replace")


def check(inputs_path):
    cases = json.loads(Path(inputs_path).read_text())
    ours = json.loads(sys.stdin.read())
    c = Checker()

    private = wx.load_private_key(KEY_PEM)
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    c.eq("public key PEM", ours["public_key_pem"].strip(), public_pem.strip())
    c.eq("public key base64", ours["public_key_base64"], "".join(public_pem.strip().splitlines()[1:-1]))
    our_public = wx.load_public_key(ours["public_key_pem"])  # their loader reads our PEM

    # --- WeChat Pay v3 -----------------------------------------------------------------
    for i, (case, out) in enumerate(zip(cases["wechat"], ours["wechat"], strict=True)):
        kind, parts = case["kind"], case["parts"]
        what = f"wechat[{i}] {kind}"
        if kind == "request":
            method, path, ts, nonce, body = parts
            real_time = wx.time.time
            wx.time.time = lambda: int(ts)
            try:
                auth = wx.build_authorization(path, method, "1230000109", "SERIAL", private, data=body, nonce_str=nonce)
            finally:
                wx.time.time = real_time
            theirs = auth.split('signature="', 1)[1].split('"', 1)[0]
            c.true(f"{what}: their Authorization has our timestamp", f'timestamp="{ts}"' in auth)
        elif kind == "notification":
            ts, nonce, body = parts
            c.true(f"{what}: wechatpayv3 rsa_verify accepts our signature", wx.rsa_verify(ts, nonce, body, out["signature"], our_public))
            c.true(f"{what}: ... and refuses it for a body one byte off", not wx.rsa_verify(ts, nonce, one_byte_off(body), out["signature"], our_public))
            c.true(f"{what}: ... and for another nonce", not wx.rsa_verify(ts, nonce + "x", body, out["signature"], our_public))
            theirs = wx.rsa_sign(private, "%s\n%s\n%s\n" % (ts, nonce, body))
        elif kind == "paysign":
            theirs = WxCore.sign(types.SimpleNamespace(_private_key=private), parts)
        else:
            raise SystemExit(f"unknown wechat case kind {kind}")
        c.eq(f"{what}: message", out["message"], "".join(p + "\n" for p in parts))
        c.eq(f"{what}: signature (byte for byte)", out["signature"], theirs)

    # --- AEAD_AES_256_GCM ------------------------------------------------------------------
    for i, (case, out) in enumerate(zip(cases["aead"], ours["aead"], strict=True)):
        what = f"aead[{i}]"
        if len(case["key"].encode()) != 32:
            c.true(f"{what}: we refuse to encrypt with a {len(case['key'])}-byte key", out["ciphertext"] is None and out["encrypt_error"])
            c.true(f"{what}: we refuse to decrypt with a {len(case['key'])}-byte key", "err" in out["decrypted_theirs"])
            continue
        c.eq(f"{what}: our ciphertext == cryptography AESGCM's", out["ciphertext"], case["their_ciphertext"])
        c.eq(f"{what}: wechatpayv3 aes_decrypt of our ciphertext", wx.aes_decrypt(case["nonce"], out["ciphertext"], case["aad"], case["key"]), case["plaintext"])
        c.eq(f"{what}: our decrypt of their ciphertext", out["decrypted_theirs"], {"ok": case["plaintext"]})
        c.eq(f"{what}: our decrypt of our ciphertext", out["decrypted_ours"], {"ok": case["plaintext"]})
        c.true(f"{what}: wechatpayv3 refuses our ciphertext under other associated data", wx.aes_decrypt(case["nonce"], out["ciphertext"], case["aad"] + "x", case["key"]) is None)

    # --- Alipay RSA2 ---------------------------------------------------------------------
    ali = AliPay(appid="2021000000000000", app_private_key_string=KEY_PEM, alipay_public_key_string=ours["public_key_pem"], sign_type="RSA2")
    for i, (case, out) in enumerate(zip(cases["alipay"], ours["alipay"], strict=True)):
        what = f"alipay[{i}]" + (" notification" if case["exclude_sign_type"] else " request")
        data = {k: v for k, v in case["params"] if k != "sign" and v != ""}  # Alipay's rule (see above)
        if case["exclude_sign_type"]:
            data.pop("sign_type", None)
        theirs = "&".join("{}={}".format(k, v) for k, v in ali._ordered_data(dict(data)))
        c.eq(f"{what}: sign content", out["content"], theirs)
        c.eq(f"{what}: signature (byte for byte)", out["signature"], ali._sign(theirs))
        if case["exclude_sign_type"]:
            notify = {k: v for k, v in case["params"] if k != "sign" and v != ""}  # still has sign_type
            c.true(f"{what}: python-alipay-sdk verify() accepts our signature", ali.verify(dict(notify), out["signature"]))
            notify["total_amount"] = "3000.00"
            c.true(f"{what}: ... and refuses it for another amount", not ali.verify(notify, out["signature"]))
        else:
            c.true(f"{what}: python-alipay-sdk _verify accepts our signature", ali._verify(out["content"], out["signature"]))
            c.true(f"{what}: ... and refuses it one byte off", not ali._verify(one_byte_off(out["content"]), out["signature"]))

    used = ", ".join(f"{p} {version(p)}" for p in PACKAGES)
    if c.failures:
        print(f"pay_vectors: {len(c.failures)} check(s) FAILED ({c.passed} passed) against {used}:", file=sys.stderr)
        for f in c.failures:
            print("  - " + f, file=sys.stderr)
        sys.exit(1)
    print(f"pay_vectors: all {c.passed} checks passed: our WeChat Pay / Alipay crypto == independent implementations ({used})")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--inputs"]:
        print(json.dumps(inputs(), ensure_ascii=False, indent=1))
    elif sys.argv[1:2] == ["--check"] and len(sys.argv) == 3:
        check(sys.argv[2])
    else:
        raise SystemExit(__doc__)
