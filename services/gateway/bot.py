"""The page the collector's User-Agent points to: who collects, how, and how to opt out."""

from html import escape

from litestar import Response, get
from litestar.datastructures import State

_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>LangNgheBot</title></head>
<body>
<h1>LangNgheBot</h1>
<p>LangNgheBot thu thập tin tức công khai (RSS, news sitemap, trang bài viết) cho hệ thống
lắng nghe dư luận Lắng Nghe của {operator}, để các cơ quan nắm bắt và phản hồi ý kiến người dân.</p>
<ul>
<li>Tuân thủ robots.txt (RFC 9309) và Crawl-delay; mặc định mỗi máy chủ
tối đa một yêu cầu mỗi giây.</li>
<li>Dùng If-None-Match / If-Modified-Since để không tải lại nội dung không đổi.</li>
<li>Không vượt tường phí, không đăng nhập, không thu thập dữ liệu cá nhân không công khai.</li>
</ul>
<p>Để chặn: <code>User-agent: LangNgheBot</code> / <code>Disallow: /</code> trong robots.txt.</p>
<p>LangNgheBot collects public news (feeds, news sitemaps, article pages) for Lắng Nghe, the
public-opinion listening system of {operator}. It obeys robots.txt and Crawl-delay, sends
conditional requests, and never logs in or bypasses paywalls. To opt out, disallow the
<code>LangNgheBot</code> user agent in robots.txt.</p>
<p>Liên hệ / contact: {contact}</p>
</body></html>"""


@get("/bot", include_in_schema=False, sync_to_thread=False)
def bot_page(state: State) -> Response[str]:
    settings = state.settings
    return Response(
        _PAGE.format(
            operator=escape(settings.operator_name),
            contact=escape(settings.operator_contact or "—"),
        ),
        media_type="text/html; charset=utf-8",
    )
