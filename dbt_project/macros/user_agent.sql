{% macro ua_browser(useragent) -%}
    {#- Browser family from a user agent; order matters (Edge and Opera also say Chrome,
        Chrome also says Safari). Unknown agents are 'Other'. -#}
    case
        when {{ useragent }} ~* '(bot|crawler|spider|crawling|slurp|headless)' then 'Bot'
        when {{ useragent }} ~* 'edg(e|a|ios)?/' then 'Edge'
        when {{ useragent }} ~* '(opr/|opera)' then 'Opera'
        when {{ useragent }} ~* 'samsungbrowser' then 'Samsung Internet'
        when {{ useragent }} ~* '(firefox|fxios)/' then 'Firefox'
        when {{ useragent }} ~* '(chrome|crios)/' then 'Chrome'
        when {{ useragent }} ~* 'safari/' then 'Safari'
        else 'Other'
    end
{%- endmacro %}

{% macro ua_os(useragent) -%}
    {#- Operating system family from a user agent; iOS before macOS (iPads say "Mac OS X"). -#}
    case
        when {{ useragent }} ~* 'android' then 'Android'
        when {{ useragent }} ~* '(iphone|ipad|ipod)' then 'iOS'
        when {{ useragent }} ~* 'windows' then 'Windows'
        when {{ useragent }} ~* 'cros' then 'ChromeOS'
        when {{ useragent }} ~* '(mac os x|macintosh)' then 'macOS'
        when {{ useragent }} ~* 'linux' then 'Linux'
        else 'Other'
    end
{%- endmacro %}
