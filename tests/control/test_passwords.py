"""The password policy: each refusal names why; passphrases pass; every way in applies it."""

from __future__ import annotations

import pytest

from app.control.passwords import (
    DEFAULT_POLICY,
    PasswordPolicy,
    WeakPassword,
    common_passwords,
    context_words,
)
from app.control.users import Accounts, AuthError, MemoryUsers

POLICY = DEFAULT_POLICY.with_context("GT-KA-400", "GridTwin 400/220 kV Substation")


@pytest.mark.parametrize("password, why", [
    ("", "enter a password"),
    ("aaaaaaaa", "a password needs at least 15 characters (this one has 8)"),
    ("12345678", "a password needs at least 15 characters"),
    ("x" * 257, "a password has at most 256 characters"),
    ("aaaaaaaaaaaaaaaa", "it is one character repeated ('a')"),
    ("abababababababab", "it uses only 2 different characters"),
    ("abcdeabcdeabcdeab", "it is 'abcde' repeated"),
    ("1qaz2wsx3edc4rfv", "it is one of the 10,000 most common passwords"),
    ("123456789987654321", "it is one of the 10,000 most common passwords"),
    ("abcdefghijklmnopq", "it is a sequence ('abcdefghijklmnopq')"),
    ("98765432109876543210", "it is '9876543210' repeated"),
    ("qwertyuiopasdfgh", "it is made of common passwords and patterns ('qwertyuiop' + "
                         "'asdfgh')"),
    ("password12345678", "it is made of common passwords and patterns ('password' + "
                         "'12345678')"),
    ("P@ssw0rd12345678", "it is made of common passwords and patterns ('p@ssw0rd' + "
                         "'12345678')"),
    ("sunshinebaseball", "it is made of common passwords and patterns ('sunshine' + "
                         "'baseball')"),
    ("dragon1978dragon!", "('dragon' + '1978' + 'dragon')"),
    ("operator is my name", "it contains the user name"),
    ("my gridtwin login pass", "it contains 'gridtwin', the name of the program or the "
                               "station"),
    ("GT-KA-400 control room", "it contains 'gtka400'"),
    ("substation admin 99!", "it contains 'substation'"),
])
def test_weak_passwords_are_refused_with_the_reason(password, why):
    got = POLICY.problem(password, username="operator")
    assert got is not None and why in got, got
    with pytest.raises(WeakPassword, match="^field 'password': "):
        POLICY.check(password, username="operator")


@pytest.mark.parametrize("password", [
    "correct horse battery",  # three common words are a passphrase
    "another good password",
    "tiger lake mountain 42",
    "kjh5%rt9 ppo2lqz",
    "monkey8472913051",  # a common word and ten digits of one's own
    "Дом у реки весной",  # any Unicode
])
def test_passphrases_and_random_passwords_pass(password):
    assert POLICY.problem(password, username="operator") is None


def test_the_shipped_list_and_its_citation():
    common = common_passwords()
    assert len(common) == 10_000
    assert common["123456"] == 1 and common["password"] == 2
    from importlib import resources

    head = resources.files("app.control").joinpath("common_passwords.txt").read_text()[:1500]
    assert "MIT" in head and "zxcvbn" in head and "xato" in head


def test_context_words_and_limits():
    assert context_words("GT-KA-400", "GridTwin 400/220 kV Substation") == (
        "gtka400", "gridtwin400220kvsubstation", "gridtwin", "substation")
    assert PasswordPolicy(min_length=20).problem("correct horse battery!") is None
    assert "at least 20" in PasswordPolicy(min_length=20).problem("correct horse batt")
    with pytest.raises(ValueError, match="at least 8 characters"):
        PasswordPolicy(min_length=6)


def test_every_way_to_set_a_password_applies_the_policy():
    acc = Accounts(MemoryUsers(), passwords=POLICY)
    with pytest.raises(WeakPassword, match="at least 15 characters"):
        acc.create_first_admin("admin", "aaaaaaaa")
    with pytest.raises(WeakPassword, match="contains the user name"):
        acc.create_first_admin("admin", "admin admin admin!")
    acc.create_first_admin("admin", "correct horse battery")
    admin = acc.login("admin", "correct horse battery")
    with pytest.raises(WeakPassword, match="10,000 most common"):
        acc.create_user(admin, "op", "1qaz2wsx3edc4rfv", "operator")
    acc.create_user(admin, "op", "another good password", "operator")
    with pytest.raises(WeakPassword, match="'gridtwin'"):
        acc.set_password(admin, "op", "gridtwin forever and ever")
    op = acc.login("op", "another good password")
    with pytest.raises(WeakPassword, match="made of common passwords"):
        acc.set_password(op, "op", "password12345678", old_password="another good password")
    with pytest.raises(AuthError, match="old password is wrong"):
        acc.set_password(op, "op", "a good new passphrase", old_password="wrong")
    acc.set_password(op, "op", "a good new passphrase", old_password="another good password")
    assert acc.login("op", "a good new passphrase").role == "operator"
