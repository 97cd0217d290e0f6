"""bot-detection: refuse requests from known bots and from user agents on a deny list (Kong's plugin).

The ``User-Agent`` header (surrounding space stripped) is checked against ``allow`` first (a
match lets the request through), then ``deny``, then the bundled rules below; a denied agent or a
bot gets 403. A request with several ``User-Agent`` headers gets 400; one without passes.
Verdicts are remembered per agent string (up to ``UA_CACHE_SIZE`` agents per plugin instance).
"""

from __future__ import annotations

import re

from ..jsontypes import JSONObject
from ..model.paths import compile_pcre
from ..model.schema import Array, Record, String
from .base import Decision, Handler, PluginSpec, RequestContext, RuntimeServices

NAME = "bot-detection"
PRIORITY = 2500
UA_CACHE_SIZE = 10_000
MULTIPLE_UA = "Only one User-Agent header allowed"

# Kong's bundled bot rules (kong/plugins/bot-detection/rules.lua, themselves from ua-parser's
# uap-core regexes.yaml). OpenResty matches them without Unicode mode, hence ``re.ASCII``.
BOT_RULES: tuple[str, ...] = (
    r"(Pingdom\.com_bot_version_)(\d+)\.(\d+)",
    r"(facebookexternalhit)/(\d+)\.(\d+)",
    r"Google.*/\+/web/snippet",
    r"(Twitterbot)/(\d+)\.(\d+)",
    r"\b(Boto3?|JetS3t|aws-(?:cli|sdk-(?:cpp|go|java|nodejs|ruby2?|dotnet-(?:\d{1,2}|core)))|s3fs)/(\d+)\.(\d+)(?:\.(\d+)|)",
    r" PTST/\d+(?:\.)?\d+$",
    r"/((?:Ant-)?Nutch|[A-z]+[Bb]ot|[A-z]+[Ss]pider|Axtaris|fetchurl|Isara|ShopSalad|Tailsweep)[ \-](\d+)(?:\.(\d+)(?:\.(\d+))?)?",
    r"\b(008|Altresium|Argus|BaiduMobaider|BoardReader|DNSGroup|DataparkSearch|EDI|Goodzer|Grub|INGRID|Infohelfer|LinkedInBot|LOOQ|Nutch|OgScrper|PathDefender|Peew|PostPost|Steeler|Twitterbot|VSE|WebCrunch|WebZIP|Y!J-BR[A-Z]|YahooSeeker|envolk|sproose|wminer)/(\d+)(?:\.(\d+)|)(?:\.(\d+)|)",
    r"(MSIE) (\d+)\.(\d+)([a-z]\d|[a-z]|);.* MSIECrawler",
    r"(Google-HTTP-Java-Client|Apache-HttpClient|Go-http-client|scalaj-http|http%20client|Python-urllib|HttpMonitor|TLSProber|WinHTTP|JNLP|okhttp|aihttp|reqwest|axios|unirest-(?:java|python|ruby|nodejs|php|net))(?:[ /](\d+)(?:\.(\d+)|)(?:\.(\d+)|)|)",
    r"(CSimpleSpider|Cityreview Robot|CrawlDaddy|CrawlFire|Finderbots|Index crawler|Job Roboter|KiwiStatus Spider|Lijit Crawler|QuerySeekerSpider|ScollSpider|Trends Crawler|USyd-NLP-Spider|SiteCat Webbot|BotName\/\$BotVersion|123metaspider-Bot|1470\.net crawler|50\.nu|8bo Crawler Bot|Aboundex|Accoona-[A-z]{1,30}-Agent|AdsBot-Google(?:-[a-z]{1,30}|)|altavista|AppEngine-Google|archive.{0,30}\.org_bot|archiver|Ask Jeeves|[Bb]ai[Dd]u[Ss]pider(?:-[A-Za-z]{1,30})(?:-[A-Za-z]{1,30}|)|bingbot|BingPreview|blitzbot|BlogBridge|Bloglovin|BoardReader Blog Indexer|BoardReader Favicon Fetcher|boitho.com-dc|BotSeer|BUbiNG|\b\w{0,30}favicon\w{0,30}\b|\bYeti(?:-[a-z]{1,30}|)|Catchpoint(?: bot|)|[Cc]harlotte|Checklinks|clumboot|Comodo HTTP\(S\) Crawler|Comodo-Webinspector-Crawler|ConveraCrawler|CRAWL-E|CrawlConvera|Daumoa(?:-feedfetcher|)|Feed Seeker Bot|Feedbin|findlinks|Flamingo_SearchEngine|FollowSite Bot|furlbot|Genieo|gigabot|GomezAgent|gonzo1|(?:[a-zA-Z]{1,30}-|)Googlebot(?:-[a-zA-Z]{1,30}|)|Google SketchUp|grub-client|gsa-crawler|heritrix|HiddenMarket|holmes|HooWWWer|htdig|ia_archiver|ICC-Crawler|Icarus6j|ichiro(?:/mobile|)|IconSurf|IlTrovatore(?:-Setaccio|)|InfuzApp|Innovazion Crawler|InternetArchive|IP2[a-z]{1,30}Bot|jbot\b|KaloogaBot|Kraken|Kurzor|larbin|LEIA|LesnikBot|Linguee Bot|LinkAider|LinkedInBot|Lite Bot|Llaut|lycos|Mail\.RU_Bot|masscan|masidani_bot|Mediapartners-Google|Microsoft .{0,30} Bot|mogimogi|mozDex|MJ12bot|msnbot(?:-media {0,2}|)|msrbot|Mtps Feed Aggregation System|netresearch|Netvibes|NewsGator[^/]{0,30}|^NING|Nutch[^/]{0,30}|Nymesis|ObjectsSearch|OgScrper|Orbiter|OOZBOT|PagePeeker|PagesInventory|PaxleFramework|Peeplo Screenshot Bot|PlantyNet_WebRobot|Pompos|Qwantify|Read%20Later|Reaper|RedCarpet|Retreiver|Riddler|Rival IQ|scooter|Scrapy|Scrubby|searchsight|seekbot|semanticdiscovery|SemrushBot|Simpy|SimplePie|SEOstats|SimpleRSS|SiteCon|Slackbot-LinkExpanding|Slack-ImgProxy|Slurp|snappy|Speedy Spider|Squrl Java|Stringer|TheUsefulbot|ThumbShotsBot|Thumbshots\.ru|Tiny Tiny RSS|Twitterbot|WhatsApp|URL2PNG|Vagabondo|VoilaBot|^vortex|Votay bot|^voyager|WASALive.Bot|Web-sniffer|WebThumb|WeSEE:[A-z]{1,30}|WhatWeb|WIRE|WordPress|Wotbox|www\.almaden\.ibm\.com|Xenu(?:.s|) Link Sleuth|Xerka [A-z]{1,30}Bot|yacy(?:bot|)|YahooSeeker|Yahoo! Slurp|Yandex\w{1,30}|YodaoBot(?:-[A-z]{1,30}|)|YottaaMonitor|Yowedo|^Zao|^Zao-Crawler|ZeBot_www\.ze\.bz|ZooShot|ZyBorg)(?:[ /]v?(\d+)(?:\.(\d+)(?:\.(\d+)|)|)|)",
    r"(?:\/[A-Za-z0-9\.]+|) {0,5}([A-Za-z0-9 \-_\!\[\]:]{0,50}(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]{0,50}))[/ ](\d+)(?:\.(\d+)(?:\.(\d+)|)|)",
    r"(?:\/[A-Za-z0-9\.]+|) {0,5}([A-Za-z0-9 \-_\!\[\]:]{0,50}(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]{0,50})) (\d+)(?:\.(\d+)(?:\.(\d+)|)|)",
    r"((?:[A-z0-9]{1,50}|[A-z\-]{1,50} ?|)(?: the |)(?:[Ss][Pp][Ii][Dd][Ee][Rr]|[Ss]crape|[Cc][Rr][Aa][Ww][Ll])[A-z0-9]{0,50})(?:(?:[ /]| v)(\d+)(?:\.(\d+)|)(?:\.(\d+)|)|)",
)
_BOTS = tuple(re.compile(p, re.ASCII) for p in BOT_RULES)

MATCH_EMPTY, MATCH_ALLOW, MATCH_DENY, MATCH_BOT = 0, 1, 2, 3
_VERDICT = {MATCH_EMPTY: "no rule matched", MATCH_ALLOW: "on the allow list",
            MATCH_DENY: "on the deny list", MATCH_BOT: "a known bot"}


def regex_error(value: str) -> str | None:
    """Kong's ``is_regex`` field check, in its words."""
    try:
        compile_pcre(value)
    except (re.error, ValueError):
        return f"not a valid regex: {value}"
    return None


CONFIG = Record(
    [
        ("allow", Array(String(custom=regex_error), default=[],
                        description="Regular expressions of `User-Agent` values to allow (checked first).")),
        ("deny", Array(String(custom=regex_error), default=[],
                       description="Regular expressions of `User-Agent` values to deny.")),
    ],
    nullable=False,
    description="Which user agents are refused besides the bundled bot rules.",
)


class BotDetectionHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.allow = [compile_pcre(p) for p in config.get("allow") or ()]
        self.deny = [compile_pcre(p) for p in config.get("deny") or ()]
        self._seen: dict[str, int] = {}

    def examine(self, user_agent: str) -> int:
        ua = user_agent.strip()
        if any(r.search(ua) for r in self.allow):
            return MATCH_ALLOW
        if any(r.search(ua) for r in self.deny):
            return MATCH_DENY
        if any(r.search(ua) for r in _BOTS):
            return MATCH_BOT
        return MATCH_EMPTY

    def access(self, ctx: RequestContext) -> None:
        agents = ctx.original.headers.getall("User-Agent", [])
        if len(agents) > 1:
            ctx.decisions.append(Decision(NAME, "reject", MULTIPLE_UA, {"status": 400}))
            raise ctx.kong_error(400, MULTIPLE_UA)
        if not agents:
            ctx.decisions.append(Decision(NAME, "pass", "no User-Agent"))
            return
        ua = agents[0]
        match = self._seen.get(ua)
        if match is None:
            match = self.examine(ua)
            if len(self._seen) >= UA_CACHE_SIZE:
                self._seen.clear()
            self._seen[ua] = match
        if match > MATCH_ALLOW:
            ctx.decisions.append(Decision(NAME, "reject", f"user agent {ua!r} is {_VERDICT[match]}",
                                          {"status": 403, "user_agent": ua}))
            raise ctx.kong_error(403, "Forbidden")
        ctx.decisions.append(Decision(NAME, "pass", f"user agent {ua!r}: {_VERDICT[match]}", {"user_agent": ua}))


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Refuse requests from known bots and from user agents you deny.",
    handler=BotDetectionHandler,
    no_consumer=True,
)
