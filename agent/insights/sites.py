"""Sites: names grouped by registrable domain, with the background infrastructure left out.

"www.bbc.co.uk", "news.bbc.co.uk" and "static.bbc.co.uk" are one site, "bbc.co.uk": the
registrable domain, one label below the public suffix ("co.uk"), from the Public Suffix List
(the `publicsuffixlist` package, ICANN section only, so "d1.cloudfront.net" is the CDN
"cloudfront.net", not a site of its own).

Phones and computers look up many names nobody chose to visit: operating-system services,
CDNs, ad and analytics hosts, connectivity checks. Counting them as sites would fill "top
sites" and "first visits" with noise, so `INFRASTRUCTURE` lists the common ones (registrable
domains; everything below them is left out too). It is a short, deliberate list, not a
blocklist: a name it misses shows up as a site, which is visible and harmless. Apps from the
catalogue are matched before sites, so their CDNs count for the app.
"""

from __future__ import annotations

from publicsuffixlist import PublicSuffixList

# Background traffic by kind. Grouped for review; one set for lookups.
_PLATFORM = """
    apple.com icloud.com icloud-content.com apple-dns.net aaplimg.com mzstatic.com
    cdn-apple.com apple-cloudkit.com apple-mapkit.com itunes.com
    googleapis.com gstatic.com gvt1.com gvt2.com gvt3.com 1e100.net googleusercontent.com
    android.com googlezip.net
    microsoft.com windowsupdate.com msftconnecttest.com msftncsi.com msedge.net
    windows.com windows.net office.net live.net bing.net
    mozilla.com mozilla.net mozilla.org firefox.com
    samsung.com samsungcloud.com samsungapps.com samsungosp.com
    amazon-dss.com a2z.com
"""
_CDN = """
    akamai.net akamaiedge.net akamaihd.net akamaized.net edgekey.net edgesuite.net
    cloudfront.net amazonaws.com fastly.net fastlylb.net fastly-insights.com
    cloudflare.com cloudflare.net cloudflareinsights.com azureedge.net azurefd.net
    trafficmanager.net llnwd.net jsdelivr.net
"""
_ADS_AND_ANALYTICS = """
    doubleclick.net googlesyndication.com googleadservices.com google-analytics.com
    googletagmanager.com googletagservices.com app-measurement.com crashlytics.com
    scorecardresearch.com adnxs.com amazon-adsystem.com criteo.com criteo.net
    appsflyer.com adjust.com branch.io app.link onesignal.com sentry.io
    facebook.net unity3d.com applovin.com
"""
_NETWORK = """
    ntp.org nist.gov digicert.com letsencrypt.org lencr.org sectigo.com globalsign.com
    pki.goog
"""
INFRASTRUCTURE: frozenset[str] = frozenset(
    (_PLATFORM + _CDN + _ADS_AND_ANALYTICS + _NETWORK).split()
)
# Names that are never sites: reverse lookups, the local network, service discovery.
LOCAL_SUFFIXES: tuple[str, ...] = (
    ".arpa",
    ".local",
    ".lan",
    ".home",
    ".internal",
    ".localdomain",
    ".localhost",
    ".invalid",
    ".test",
)


class SiteNamer:
    """Name -> site (registrable domain) or None. It remembers nothing itself: insights asks
    through `Classifier`, which remembers the names in use (`agent.insights.recent`)."""

    def __init__(self, infrastructure: frozenset[str] = INFRASTRUCTURE) -> None:
        self._psl = PublicSuffixList(only_icann=True)
        self._infrastructure = infrastructure

    def registrable(self, name: str) -> str | None:
        """The registrable domain of `name`, or None (a public suffix, a single label)."""
        name = name.lower().rstrip(".")
        if "." not in name:
            return None
        return self._psl.privatesuffix(name)

    def site(self, name: str) -> str | None:
        """The registrable domain a person would call the site, or None for a name that is not
        a site (infrastructure, the local network, a bare suffix)."""
        if name.endswith(LOCAL_SUFFIXES) or name.startswith("_"):
            return None
        domain = self.registrable(name)
        if domain is None or domain in self._infrastructure:
            return None
        return domain
