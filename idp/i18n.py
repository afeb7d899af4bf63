"""Page text in English and Simplified Chinese, chosen by ``ui_locales`` then Accept-Language.

The pages are few and short, so the catalogue is a dictionary keyed by the English text
rather than gettext catalogues that need a compile step.
"""

from __future__ import annotations

from flask import request, session

SUPPORTED = ("en", "zh-CN")

ZH = {
    "Sign in": "登录",
    "Sign in to continue to": "登录以继续使用",
    "Username": "用户名",
    "Password": "密码",
    "Wrong username or password.": "用户名或密码错误。",
    "Too many failed attempts. Try again in {minutes} minutes.": "失败次数过多，请 {minutes} 分钟后再试。",
    "Allow access": "允许访问",
    "wants to": "请求",
    "Allow": "允许",
    "Deny": "拒绝",
    "Choose what this service may see. You can change this later on your account page.": "请选择该服务可以查看的信息。之后可在账户页面更改。",
    "Sign in to this service": "登录此服务",
    "Your name and username": "您的姓名和用户名",
    "Your email address": "您的电子邮箱",
    "Your phone number": "您的电话号码",
    "Your postal address": "您的邮寄地址",
    "Stay signed in when you are away (refresh access)": "离开时保持访问（刷新令牌）",
    "Use the API": "使用接口",
    "Sign out": "退出登录",
    "Do you want to sign out of OneTrip and every service you used?": "是否退出 OneTrip 以及您使用过的所有服务？",
    "You are signed out.": "您已退出登录。",
    "Your account": "您的账户",
    "My services": "我的服务",
    "These services can see data from your account.": "以下服务可以查看您账户中的数据。",
    "No service has access yet.": "尚无服务获得访问权限。",
    "Withdraw": "撤回",
    "since": "自",
    "Recent sign-ins": "最近登录",
    "Sign out everywhere": "在所有设备上退出",
    "Signed in as": "当前用户",
    "Something went wrong": "出错了",
    "Back": "返回",
    "Continue": "继续",
    "Face check": "人脸核验",
    "Language": "语言",
    "Look at the camera, then": "请看着摄像头，然后",
    "blink": "眨眼",
    "turn your head to your left": "向左转头",
    "turn your head to your right": "向右转头",
    "Take 3 to 8 photos while you do it (or record with the camera button). This check expires in 60 seconds.": "做动作时拍摄 3 到 8 张照片（或使用摄像头按钮录制）。本次核验 60 秒内有效。",
    "Photos": "照片",
    "Photo": "照片",
    "Cancel": "取消",
    "This service asks for a face check, and no face is registered for your account yet.": "该服务要求人脸核验，但您的账户尚未登记人脸。",
    "Add a clear photo of your face. Only a numeric template is kept, encrypted; the photo itself is never stored.": "请上传一张清晰的正脸照片。系统仅加密保存数字特征，不保存照片本身。",
    "Register my face": "登记人脸",
    "A face template is registered. Services may ask for a face check.": "已登记人脸特征。服务可能要求人脸核验。",
    "Always check my face when I sign in": "每次登录都核验人脸",
    "Stop asking for my face at every sign-in": "不再每次登录都核验人脸",
    "Delete my face template": "删除我的人脸特征",
    "Add a photo of your face": "添加您的人脸照片",
    # -- issue 14: the signature verification page (signing/templates/signing/verify.html)
    "Verify a signed PDF": "验证已签名的 PDF",
    "OneTrip document": "OneTrip 文件",
    "state": "状态",
    "Its signed version has SHA-256": "其签名版本的 SHA-256 为",
    "Upload your copy below: it is authentic only if every signature checks out.": "请在下方上传您手中的副本：只有每个签名都通过验证，它才是真实的。",
    "OneTrip has no document with this id.": "OneTrip 没有此编号的文件。",
    "Every signature is valid": "所有签名均有效",
    "This document does not verify": "此文件未通过验证",
    "This file belongs to another OneTrip document.": "此文件属于另一份 OneTrip 文件。",
    "Time-stamp": "时间戳",
    "A trusted time-stamp proves the document existed at": "可信时间戳证明该文件在此时间已存在：",
    "This time-stamp could not be confirmed.": "无法确认此时间戳。",
    "Valid: the signature is genuine and the document has not changed since it was signed.": "有效：签名真实，文件自签署后未被改动。",
    "Not valid:": "无效：",
    "Cannot be confirmed:": "无法确认：",
    "The seal's key had been reported compromised before this signature was proven to exist.": "在能证明此签名存在之前，印章密钥已被报告泄露。",
    "The seal has been revoked, and nothing proves the signature was made before that.": "印章已被吊销，且无法证明签名是在吊销之前作出的。",
    "The document was changed after it was signed.": "文件在签署后被改动过。",
    "The signature itself is damaged or forged.": "签名本身已损坏或系伪造。",
    "The document was changed after signing in a way the signature does not allow.": "文件在签署后以签名不允许的方式被改动。",
    "The seal was not issued by an authority OneTrip trusts.": "该印章并非由 OneTrip 信任的机构签发。",
    "The seal has expired, and nothing proves the signature was made while it was valid.": "印章已过期，且无法证明签名是在其有效期内作出的。",
    "The document lacks the evidence needed to check the seal's status when it signed.": "文件缺少核查签署时印章状态所需的证据。",
    "The signature could not be checked.": "无法核验此签名。",
    "Signed by": "签署者",
    "Signed at": "签署时间",
    "proven by a trusted time-stamp": "已由可信时间戳证明",
    "as stated by the signer (not proven)": "由签署者自述（未经证明）",
    "The seal today": "印章当前状态",
    "Revoked on": "吊销于",
    "key compromised since": "密钥自此时起泄露：",
    "The signature was made before that, so it was valid at signing time and stays valid.": "签名作出于此之前，因此在签署时有效，并继续有效。",
    "Still valid, not revoked.": "仍然有效，未被吊销。",
    "Not issued by OneTrip; its status comes from the document only.": "非 OneTrip 签发；其状态仅来自文件本身。",
    "Changes after signing": "签署后的改动",
    "Details for auditors": "供审计人员查看的详细信息",
    "ETSI EN 319 102-1 indication": "ETSI EN 319 102-1 结论",
    "Kind": "类型",
    "Trust path": "信任路径",
    "Revocation data used": "使用的吊销信息",
    "about": "关于",
    "The file has no signatures.": "该文件没有签名。",
    "PDF file": "PDF 文件",
    "Verify": "验证",
    "Download the ETSI report (XML)": "下载 ETSI 报告（XML）",
    "Nothing you upload here is stored.": "您在此上传的内容不会被保存。",
    "This file is not a PDF.": "此文件不是 PDF。",
    "This PDF is damaged and cannot be read.": "此 PDF 已损坏，无法读取。",
    "This PDF is protected by a password; remove the password and try again.": "此 PDF 受密码保护；请去除密码后重试。",
    "This PDF is too large to check here.": "此 PDF 太大，无法在此核验。",
    "This file cannot be checked.": "无法核验此文件。",
}


def current_locale() -> str:
    wanted = request.values.get("ui_locales") or session.get("ui_locales") or ""
    for tag in wanted.split():
        if tag.lower().startswith("zh"):
            return "zh-CN"
        if tag.lower().startswith("en"):
            return "en"
    best = request.accept_mimetypes and request.accept_languages.best_match(
        ["en", "zh-CN", "zh", "zh-Hans", "zh-TW"], default="en"
    )
    return "zh-CN" if best and best.startswith("zh") else "en"


def translate(text: str, **values) -> str:
    out = ZH.get(text, text) if current_locale() == "zh-CN" else text
    return out.format(**values) if values else out
