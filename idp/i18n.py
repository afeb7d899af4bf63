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
    # Issue 15: what the consent page says of a service.
    "About this service": "关于该服务",
    "Privacy policy": "隐私政策",
    "Terms of service": "服务条款",
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
