"""The workspace's words in English and Simplified Chinese, and the services' refusals in
the officer's language.

Like the citizen's pages (:mod:`idp.i18n`), the catalogue is a dictionary keyed by the
English text; the language is the one the host chose for this request (``g.locale``).
Services refuse with a stable code and an English message; :func:`refusal` turns the
code (and, for a few codes, the message) into the page's words, so a refusal is never
shown in the wrong language.
"""

from __future__ import annotations

import re

from flask import g

ZH = {
    "OneTrip workspace": "OneTrip 工作台",
    "Workspace": "工作台",
    "Inbox": "待办",
    "Sign": "签章",
    "Start a route": "发起流转",
    "My routes": "我发起的流转",
    "History": "历史记录",
    "Not possible": "无法完成",
    "department administrator": "部门管理员",
    "Previous": "上一页",
    "Next": "下一页",
    "Page {number} of {pages}": "第 {number} 页，共 {pages} 页",
    "Pages": "页面",
    "Page {number}": "第 {number} 页",
    "Waiting for your department: {total}": "等待本部门处理：{total} 份",
    "Subject": "事由",
    "Sender": "发件人",
    "Deadline": "截止日期",
    "Step": "环节",
    "{position} of {steps}": "第 {position} 步，共 {steps} 步",
    "overdue": "已逾期",
    "Nothing waits for your department.": "本部门暂无待办文件。",
    "State": "状态",
    "File": "文件",
    "Note": "备注",
    "Document id": "文件编号",
    "Download the PDF": "下载 PDF",
    "Download the verification report (XML)": "下载验证报告（XML）",
    "Verification page": "验证页面",
    "Your department's step": "本部门的环节",
    "Reason shown in the signature (optional)": "签名中显示的理由（可选）",
    "Approve and seal": "同意并盖章",
    "Reason for rejecting": "退回理由",
    "Reject": "退回",
    "Route": "流转路线",
    "Reason": "理由",
    "The first {shown} of {count} pages.": "共 {count} 页，显示前 {shown} 页。",
    "Subject, file, officer or document id": "事由、文件名、经办人或文件编号",
    "Search": "搜索",
    "Entries: {total}": "共 {total} 条",
    "When": "时间",
    "Action": "操作",
    "Officer": "经办人",
    "Verify": "验证",
    "Sign documents": "文件签章",
    "PDF files (one or several)": "PDF 文件（可多选）",
    "Signature level": "签名级别",
    "Stamp": "印章",
    "A visible stamp (you place it on the next page)": "可见印章（下一步选择位置）",
    "Continue": "继续",
    "Place the stamp": "放置印章",
    "Click where the stamp's centre should be. Every file of the batch gets it at the same place ({count} files).": "请点击印章中心应在的位置。本批所有文件（{count} 份）都盖在同一位置。",
    "Page {number} of {file}: click to put the stamp there": "{file} 第 {number} 页：点击即在该处盖章",
    "Put it at the usual place (foot of the last page)": "盖在默认位置（最后一页底部）",
    "Signing": "正在签章",
    "{done} of {total} files done": "已完成 {done} / {total} 份",
    "finished": "全部完成",
    "Files": "文件",
    "Result": "结果",
    "Download {file}": "下载 {file}",
    "Signed files can be downloaded for an hour.": "签章后的文件可在一小时内下载。",
    "PDF file": "PDF 文件",
    "Departments, in order": "依次经过的部门",
    "Step {number}": "第 {number} 步",
    "(none)": "（无）",
    "Citizen the document concerns (username, optional)": "文件涉及的公民（用户名，可选）",
    "Deadline (optional)": "截止日期（可选）",
    "Note for the departments (optional)": "给各部门的备注（可选）",
    "Every department's visible stamp at the foot of the last page": "各部门的可见印章盖在最后一页底部",
    "Start the route": "发起",
    "Routes: {total}": "共 {total} 个流转",
    "Officers": "经办人员",
    "Username": "用户名",
    "Role": "角色",
    "Since": "加入时间",
    "Change": "变更",
    "Make officer": "设为经办人",
    "Make administrator": "设为管理员",
    "Remove": "移除",
    "Add an officer": "添加经办人",
    "Add": "添加",
    "officer": "经办人",
    "admin": "部门管理员",
    "Only a department administrator may do this.": "只有部门管理员可以进行此操作。",
    "You cannot change your own membership.": "您不能更改自己的成员身份。",
    "{name} is a member, as {role}.": "{name} 已成为成员，角色为{role}。",
    "{name} no longer signs for the department.": "{name} 不再代表本部门签章。",
    "A member's role is officer or department administrator.": "成员角色只能是经办人或部门管理员。",
    "{name} is not a member of this department.": "{name} 不是本部门的成员。",
    "Documents about you": "与您有关的文件",
    "Departments are handling these documents for you.": "以下文件正在由各部门为您办理。",
    "step {position} of {steps}, at {department}": "第 {position} 步，共 {steps} 步，当前在 {department}",
    "Check it": "核验",
    "Or approve by clicking on the last page where the route's stamps go (yours first, the next departments' beneath it):": "或在最后一页上点击印章位置以同意（本部门的印章在上，后续部门的依次在下）：",
    "Last page: click to approve with the stamps there": "最后一页：点击即同意并在该处盖章",
    # states and actions
    "routing": "流转中",
    "completed": "已完成",
    "rejected": "已退回",
    "pending": "待处理",
    "signed": "已签章",
    "approved": "已同意",
    "waiting": "等待中",
    "refused": "被拒绝",
    # messages of the views
    "Your account is not an officer of any department.": "您的账户不是任何部门的经办人。",
    "A rejection needs a reason of 1 to 1000 characters.": "退回需要填写 1 到 1000 个字符的理由。",
    "Approved and sealed: {subject}.": "已同意并盖章：{subject}。",
    "Rejected: {subject}.": "已退回：{subject}。",
    "Choose at least one department.": "请至少选择一个部门。",
    "Choose the PDF to send along the route.": "请选择要流转的 PDF 文件。",
    "Click on the page to place the stamp.": "请在页面上点击以放置印章。",
    "The deadline must be a date from today on.": "截止日期不能早于今天。",
    "The route is started: {subject}.": "流转已发起：{subject}。",
    "There is no account {name}.": "没有账户 {name}。",
    "{file}: {reason}": "{file}：{reason}",
    # refusals of the services
    "This file is not a PDF.": "此文件不是 PDF。",
    "This PDF is damaged and cannot be read.": "此 PDF 已损坏，无法读取。",
    "This PDF is protected by a password; remove the password and try again.": "此 PDF 受密码保护；请去除密码后重试。",
    "This PDF is too large.": "此 PDF 太大。",
    "This PDF has too many pages or objects.": "此 PDF 的页数或对象过多。",
    "A signature in this PDF is broken; OneTrip does not sign on top of it.": "此 PDF 中已有的签名已损坏；OneTrip 不会在其上签章。",
    "This PDF cannot be signed.": "此 PDF 无法签章。",
    "There is no room on this page for a visible stamp.": "此页面没有放置可见印章的空间。",
    "This page cannot be shown.": "无法显示此页面。",
    "Choose a signature level from the list.": "请从列表中选择签名级别。",
    "Choose at least one PDF.": "请至少选择一个 PDF 文件。",
    "A batch has at most {count} files.": "每批最多 {count} 个文件。",
    "The batch expired before this file was signed.": "签章前本批已过期。",
    "The server could not sign this file.": "服务器未能签署此文件。",
    "You are not a member of this department.": "您不是该部门的成员。",
    "There is no such route, or it is not yours to see.": "没有此流转，或您无权查看。",
    "This route is closed: it was completed or rejected.": "此流转已结束：已完成或已退回。",
    "The route moved on meanwhile; reload the page.": "流转已在此期间推进，请刷新页面。",
    "There is no such department.": "没有此部门。",
    "A department appears twice in the route.": "同一部门在路线中出现了两次。",
    "A subject has at most 200 characters.": "事由最多 200 个字符。",
    "A note has at most 2000 characters.": "备注最多 2000 个字符。",
    "The request was refused: {reason}": "请求被拒绝：{reason}",
}

#: A service's refusal code, and the words for it.
_BY_CODE = {
    "not_pdf": "This file is not a PDF.",
    "corrupt_pdf": "This PDF is damaged and cannot be read.",
    "encrypted_pdf": "This PDF is protected by a password; remove the password and try again.",
    "too_large": "This PDF is too large.",
    "too_complex": "This PDF has too many pages or objects.",
    "broken_signature": "A signature in this PDF is broken; OneTrip does not sign on top of it.",
    "cannot_sign": "This PDF cannot be signed.",
    "cannot_stamp": "There is no room on this page for a visible stamp.",
    "cannot_render": "This page cannot be shown.",
    "invalid_place": "Click on the page to place the stamp.",
    "invalid_level": "Choose a signature level from the list.",
    "expired": "The batch expired before this file was signed.",
    "failed": "The server could not sign this file.",
    "not_a_member": "You are not a member of this department.",
    "not_found": "There is no such route, or it is not yours to see.",
    "route_closed": "This route is closed: it was completed or rejected.",
    "conflict": "The route moved on meanwhile; reload the page.",
    "unknown_department": "There is no such department.",
    "invalid_role": "A member's role is officer or department administrator.",
}
#: Codes that cover several refusals: the English message picks the words.
_BY_MESSAGE = [
    (r"choose at least one PDF", "Choose at least one PDF."),
    (r"a batch has at most (?P<count>\d+) files", "A batch has at most {count} files."),
    (r"a department appears twice in the route", "A department appears twice in the route."),
    (r"a route needs at least one department", "Choose at least one department."),
    (r"a subject has at most 200 characters", "A subject has at most 200 characters."),
    (r"a note has at most 2000 characters", "A note has at most 2000 characters."),
    (r"a rejection needs a reason", "A rejection needs a reason of 1 to 1000 characters."),
    (r"(?P<name>\S+) is not a member of \S+", "{name} is not a member of this department."),
]
_COMPILED = [(re.compile(pattern), text) for pattern, text in _BY_MESSAGE]


def translate(text: str, **values) -> str:
    out = ZH.get(text, text) if g.get("locale") == "zh-CN" else text
    return out.format(**values) if values else out


def refusal(refused) -> str:
    """A service's refusal (a :class:`config.errors.Refusal`, or a batch result with
    ``error`` and ``message``) in the officer's language."""
    if isinstance(refused, dict):
        code, message = refused.get("error", ""), refused.get("message", "")
    else:
        code, message = refused.error, refused.description
    for pattern, text in _COMPILED:
        if found := pattern.fullmatch(message):
            return translate(text, **found.groupdict())
    if code in _BY_CODE:
        return translate(_BY_CODE[code])
    return translate("The request was refused: {reason}", reason=message)
