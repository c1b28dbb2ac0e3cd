"""The rule catalogue of `govsite check`: a stable id per rule, its severity, what it means in one
line, and the rule it enforces. Ids never change meaning: CI configurations and `check.off` in
sites.yaml name them.

Sources: 国办秘函〔2019〕19号 (全国政府网站抽查评估指标, its veto items V1–V6), 国办发〔2017〕47号
(政府网站发展指引), GB/T 37668-2019 (accessibility), and the national 网页标签 set. See
../shared/NORMS.md in the development repository for the digest and how sure each number is.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR, WARNING = "error", "warning"
SPOT_CHECK = "国办秘函〔2019〕19号"
GUIDELINES = "国办发〔2017〕47号"
ACCESSIBILITY = "GB/T 37668-2019, WCAG 2.1"


@dataclass(frozen=True)
class Rule:
    id: str
    level: str
    summary: str
    basis: str
    veto: str = ""   # the veto item (单项否决) it guards, shown on the scorecard


RULES = {rule.id: rule for rule in [
    Rule("fresh-home", ERROR, "the newest dated item reachable from the home page is too old "
         "(warning from home_warn_days, error from home_error_days)",
         f"{SPOT_CHECK} 单项否决：首页不更新 (2 weeks)", "V3 首页不更新"),
    Rule("fresh-column", WARNING, "a column that must be kept up to date is stale: news after "
         "news_days, top-level notice and policy columns after notice_days, personnel and planning "
         "columns after yearly_days; an error once the veto counts are reached",
         f"{SPOT_CHECK} 单项否决：栏目不更新 (5 stale news/notice/policy columns, or 10 stale columns)",
         "V4 栏目不更新"),
    Rule("empty-column", ERROR, "a column with nothing published in it (5 fail a site; one is "
         "already a defect)", f"{SPOT_CHECK} 单项否决：空白栏目", "V4 空白栏目"),
    Rule("interaction-channel", ERROR, "no working consultation (政务咨询) link on the home page of "
         "the portal or of a site with public services",
         f"{SPOT_CHECK} 单项否决：互动回应差", "V5 互动回应差"),
    Rule("service-guide", ERROR, "a service guide lacks a required element (事项名称, 设定依据, "
         "申请条件, 办理材料, 办理流程, 办理时限, 收费, 地点, 时间, 咨询电话, 监督投诉)",
         f"{SPOT_CHECK} 单项否决：服务不实用", "V6 服务不实用"),
    Rule("service-forms", ERROR, "a material's downloadable form (template) is missing",
         f"{SPOT_CHECK} 服务不实用；附件下载", "V6 服务不实用"),
    Rule("service-online", ERROR, "a service guide has no online-handling link (online_url)",
         f"{SPOT_CHECK} 服务不实用；在线办理", "V6 服务不实用"),
    Rule("identity-site-code", ERROR, "网站标识码 malformed, or not the same in the footer, the "
         "SiteIDCode tag and the error-reporting (找错) entry", f"{GUIDELINES} 网站标识码"),
    Rule("identity-filing", ERROR, "ICP or 公安 filing number missing or malformed, or without "
         "its link to the filing system", f"{GUIDELINES} 底部功能区；《互联网信息服务管理办法》"),
    Rule("identity-sponsor", ERROR, "the footer does not show the 主办单位 or a contact "
         "(phone or email)", f"{GUIDELINES} 底部功能区"),
    Rule("meta-required", ERROR, "a required 网页标签 is missing or empty for the page type "
         "(site tags on every page, column tags on column and article pages, ArticleTitle, "
         "PubDate and ContentSource on article pages)", f"{GUIDELINES} 网页标签"),
    Rule("meta-title", ERROR, "ArticleTitle differs from the page's h1", f"{GUIDELINES} 网页标签"),
    Rule("meta-pubdate", ERROR, "PubDate is not YYYY-MM-DD HH:MM or lies in the future",
         f"{GUIDELINES} 网页标签"),
    Rule("policy-fields", ERROR, "a policy document lacks a required field (索引号, 发文机关, "
         "成文日期, 主题分类, 发布日期)", "《政府信息公开条例》; 国办公开办函〔2019〕61号"),
    Rule("policy-doc-number", ERROR, "发文字号 writes the year in brackets other than 〔〕",
         "GB/T 9704-2012 7.2.4"),
    Rule("policy-index-number", ERROR, "索引号 malformed or used twice in the cluster",
         "《政府信息公开条例》 公开目录"),
    Rule("policy-dates", ERROR, "成文日期 after 发布日期", "GB/T 9704-2012"),
    Rule("policy-repealed", ERROR, "a repealed (废止) document does not point to what repealed it",
         f"{GUIDELINES} 政策文件 有效性标注"),
    Rule("policy-links", ERROR, "an interpretation does not link to an existing policy document",
         "国办发〔2016〕80号 政策解读与文件同步"),
    Rule("date-integrity", ERROR, "a publication date changed after the page was published, with "
         "no date_correction reason", f"{SPOT_CHECK} 单项否决：伪造发稿日期", "V1 弄虚作假"),
    Rule("link-home", ERROR, "a broken link, anchor, image or attachment on a home page (weighed "
         "more by the inspection)", f"{SPOT_CHECK} 链接可用性（首页）"),
    Rule("link-internal", ERROR, "a link to a page or file of the cluster that does not exist",
         f"{SPOT_CHECK} 链接可用性"),
    Rule("link-anchor", ERROR, "a link to a #fragment the target page does not have",
         f"{SPOT_CHECK} 链接可用性"),
    Rule("link-file", ERROR, "an image, attachment, style or script that does not exist",
         f"{SPOT_CHECK} 链接可用性"),
    Rule("link-external", WARNING, "an external link that does not answer (only with --external)",
         f"{SPOT_CHECK} 链接可用性"),
    Rule("a11y-alt", ERROR, "an image without alt text", f"{ACCESSIBILITY} 1.1.1"),
    Rule("a11y-table-header", ERROR, "a data table without header cells", f"{ACCESSIBILITY} 1.3.1"),
    Rule("a11y-headings", WARNING, "a heading level skipped (h2 followed by h4)",
         f"{ACCESSIBILITY} 1.3.1"),
    Rule("a11y-link-text", WARNING, "a link text that says nothing on its own (点击这里, 更多, "
         "click here)", f"{ACCESSIBILITY} 2.4.4"),
    Rule("a11y-pdf-only", WARNING, "a page that is only a PDF, without an HTML version of its text",
         f"{ACCESSIBILITY}; 工信部信管〔2020〕200号"),
    Rule("banned-term", ERROR, "a term from the cluster's banned or sensitive terms list",
         f"{SPOT_CHECK} 单项否决：严重表述错误", "V1 严重表述错误"),
    Rule("page-weight", WARNING, "a page heavier than its budget (html_kb for the HTML, page_kb "
         "with what it loads)", f"{SPOT_CHECK} 站点可访问性"),
    Rule("domain-gov-cn", WARNING, "a site outside .gov.cn (switch off with check.domain_rules)",
         "国办发〔2018〕123号 政府网站域名管理"),
    Rule("domain-portal", WARNING, "a department or county site not under the portal's domain",
         "国办发〔2018〕123号 政府网站域名管理"),
    Rule("markdown-link", WARNING, "Markdown link syntax left as text: the address holds a space "
         "(write %20, or put the address in <…>)", f"{SPOT_CHECK} 链接可用性"),
    Rule("content-error", ERROR, "any other error that stops `govsite build`",
         "govsite: the build refuses it"),
]}
