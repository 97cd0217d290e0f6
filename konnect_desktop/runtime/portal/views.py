"""The Dev Portal's pages as HTML strings (server-side; no scripts, every value escaped).

One layout (header with the portal's title and logo, navigation, a message line) and one
function per page. Forms carry the session's CSRF token; a form that was refused comes back with
the message next to the field it names and the values typed (never the password).
"""

from __future__ import annotations

from collections.abc import Mapping

from ...jsontypes import JSONObject, JSONValue
from .openapi_view import document_html, e

LOCAL_NOTE = ("This portal is served by the local runtime on this computer; its products, accounts "
              "and applications are local and are not published to Konnect.")


def layout(settings: Mapping[str, str], title: str, body: str, *, developer: Mapping[str, JSONValue] | None,
           csrf: str, message: str = "") -> str:
    logo = (f"<img class='logo' src='{e(settings['logo'])}' alt=''>" if settings.get("logo") else "")
    if developer:
        account = (f"<a href='/apps'>My applications</a> <span class='muted'>{e(developer['email'])}</span> "
                   f"<form method='post' action='/logout' class='inline'><input type='hidden' name='csrf' "
                   f"value='{e(csrf)}'><button type='submit' class='link'>Log out</button></form>")
    else:
        account = "<a href='/login'>Log in</a> <a href='/signup'>Sign up</a>"
    note = f"<p class='message' role='status'>{e(message)}</p>" if message else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(title)} · {e(settings['title'])}</title>"
        "<link rel='stylesheet' href='/static/portal.css'><link rel='stylesheet' href='/theme.css'>"
        "<link rel='icon' href='data:,'></head><body>"
        f"<header><a class='brand' href='/'>{logo}{e(settings['title'])}</a>"
        f"<nav><a href='/'>APIs</a> {account}</nav></header>"
        f"<main>{note}<h1>{e(title)}</h1>{body}</main>"
        f"<footer class='muted'>{e(LOCAL_NOTE)}</footer></body></html>"
    )


def _field(name: str, label: str, *, kind: str = "text", value: str = "", errors: Mapping[str, str],
           required: bool = True, extra: str = "") -> str:
    err = errors.get(name)
    msg = f"<p class='error' id='{name}-error'>{e(err)}</p>" if err else ""
    described = f" aria-describedby='{name}-error' aria-invalid='true'" if err else ""
    return (f"<label for='{name}'>{e(label)}</label>"
            f"<input id='{name}' name='{name}' type='{kind}' value='{e(value)}'"
            f"{' required' if required else ''}{described} {extra}>{msg}")


def catalog_page(products: list[tuple[JSONObject, list[JSONObject]]]) -> str:
    if not products:
        return "<p class='muted'>No API is published yet.</p>"
    cards = []
    for p, versions in products:
        labels = "".join(f"<span class='label'>{e(k)}: {e(v)}</span>" for k, v in sorted(p["labels"].items()))
        links = " ".join(f"<a class='version' href='/products/{e(p['id'])}/{e(v['version'])}'>{e(v['version'])}</a>"
                         for v in versions)
        cards.append(f"<article class='card'><h2>{e(p['name'])}</h2><p>{e(p['description'])}</p>"
                     f"<p>{labels}</p><p>Versions: {links}</p></article>")
    return "<div class='cards'>" + "".join(cards) + "</div>"


def version_page(product: Mapping[str, JSONValue], version: Mapping[str, JSONValue], doc: Mapping[str, JSONValue] | None, *,
                 csrf: str, apps: list[JSONObject] | None, errors: Mapping[str, str]) -> str:
    policy = {"auto": "Access is granted at once.", "manual": "Access is granted after the API's owner approves it.",
              "off": "This version takes no new registrations."}[version["registration"]]
    parts = [f"<p>{e(product['description'])}</p><p class='muted'>{e(policy)}</p>"]
    err = errors.get("app") or errors.get("version")
    if err:
        parts.append(f"<p class='error' role='alert'>{e(err)}</p>")
    if version["registration"] != "off":
        if apps is None:
            parts.append("<p><a href='/login'>Log in</a> or <a href='/signup'>sign up</a> to request access.</p>")
        elif not apps:
            parts.append("<p>Create an application on <a href='/apps'>My applications</a> to request access.</p>")
        else:
            options = "".join(f"<option value='{e(a['id'])}'>{e(a['name'])}</option>" for a in apps)
            parts.append(
                "<form method='post' action='/register' class='box'>"
                f"<input type='hidden' name='csrf' value='{e(csrf)}'>"
                f"<input type='hidden' name='version' value='{e(version['id'])}'>"
                f"<label for='app'>Application</label><select id='app' name='app'>{options}</select>"
                + "<button type='submit'>Request access</button></form>")
    if doc is None:
        parts.append("<p class='muted'>No API description was published for this version.</p>")
    else:
        parts.append(document_html(doc, version_id=version["id"], csrf=csrf))
    return "".join(parts)


def signup_page(csrf: str, values: Mapping[str, str], errors: Mapping[str, str]) -> str:
    return ("<form method='post' action='/signup' class='box'>"
            f"<input type='hidden' name='csrf' value='{e(csrf)}'>"
            + _field("email", "E-mail", kind="email", value=values.get("email", ""), errors=errors,
                     extra="autocomplete='email'")
            + _field("name", "Name", value=values.get("name", ""), errors=errors, extra="autocomplete='name'")
            + _field("password", "Password (at least 10 characters)", kind="password", errors=errors,
                     extra="autocomplete='new-password'")
            + "<button type='submit'>Sign up</button></form>"
            "<p>Have an account? <a href='/login'>Log in</a>.</p>")


def login_page(csrf: str, values: Mapping[str, str], errors: Mapping[str, str]) -> str:
    return ("<form method='post' action='/login' class='box'>"
            f"<input type='hidden' name='csrf' value='{e(csrf)}'>"
            + _field("email", "E-mail", kind="email", value=values.get("email", ""), errors=errors,
                     extra="autocomplete='username'")
            + _field("password", "Password", kind="password", errors=errors, extra="autocomplete='current-password'")
            + "<button type='submit'>Log in</button></form>"
            "<p>No account yet? <a href='/signup'>Sign up</a>.</p>")


_STATUS = {"pending": "Pending approval", "approved": "Approved", "rejected": "Rejected", "revoked": "Revoked"}


def apps_page(csrf: str, apps: list[JSONObject], registrations: list[JSONObject],
              fresh: Mapping[str, str], values: Mapping[str, str], errors: Mapping[str, str]) -> str:
    parts = []
    for rid, key in fresh.items():
        reg = next((r for r in registrations if r["id"] == rid), None)
        what = f" for {reg['app_name']} → {reg['product']} {reg['version']}" if reg else ""
        parts.append(f"<div class='key box' role='alert'><p><strong>Your API key{e(what)}</strong> "
                     "(shown once: copy it now; send it in the <code>apikey</code> header):</p>"
                     f"<p><code class='secret' id='key-{e(rid)}'>{e(key)}</code></p></div>")
    if apps:
        rows = []
        for a in apps:
            regs = [r for r in registrations if r["app_id"] == a["id"]]
            items = "".join(
                f"<li>{e(r['product'])} {e(r['version'])}: <span class='status {e(r['status'])}'>"
                f"{e(_STATUS.get(r['status'], r['status']))}</span>"
                + (f" <form method='post' action='/registrations/{e(r['id'])}/key' class='inline'>"
                   f"<input type='hidden' name='csrf' value='{e(csrf)}'>"
                   "<button type='submit' class='link'>New key</button></form>" if r["status"] == "approved" else "")
                + "</li>" for r in regs) or "<li class='muted'>No access requested yet: pick an API on "\
                "<a href='/'>the catalog</a>.</li>"
            rows.append(f"<article class='card app'><h2>{e(a['name'])}</h2><p>{e(a['description'])}</p>"
                        f"<ul>{items}</ul></article>")
        parts.append("<div class='cards'>" + "".join(rows) + "</div>")
    else:
        parts.append("<p class='muted'>You have no application yet.</p>")
    parts.append("<h2>New application</h2><form method='post' action='/apps' class='box'>"
                 f"<input type='hidden' name='csrf' value='{e(csrf)}'>"
                 + _field("name", "Name", value=values.get("name", ""), errors=errors)
                 + _field("description", "Description", value=values.get("description", ""), errors=errors,
                          required=False)
                 + "<button type='submit'>Create application</button></form>")
    return "".join(parts)


def try_result_page(method: str, path: str, status: int | None, headers: list[tuple[str, str]], body: str,
                    error: str, back: str) -> str:
    if error:
        result = f"<p class='error'>{e(error)}</p>"
    else:
        head = "\n".join(f"{k}: {v}" for k, v in headers)
        result = (f"<p>Status: <strong class='http-status'>{status}</strong></p>"
                  f"<h2>Headers</h2><pre>{e(head)}</pre><h2>Body</h2><pre>{e(body)}</pre>")
    return (f"<p><code>{e(method)} {e(path)}</code> sent through the local proxy.</p>{result}"
            f"<p><a href='{e(back)}'>Back to the API</a></p>")


def error_page(message: str) -> str:
    return f"<p class='error'>{e(message)}</p><p><a href='/'>Back to the APIs</a></p>"


__all__ = ["layout", "catalog_page", "version_page", "signup_page", "login_page", "apps_page",
           "try_result_page", "error_page", "LOCAL_NOTE"]
