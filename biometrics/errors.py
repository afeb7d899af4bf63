"""Refusals a citizen can understand, in English and Simplified Chinese.

A :class:`FaceError` is a :class:`config.errors.Refusal` made from its code alone: the
English description and the Chinese message are looked up from the code, and it crosses
the process boundary of the face worker pool unchanged.
"""

from __future__ import annotations

from config.errors import Refusal

#: code -> (English, Simplified Chinese). Written for the person holding the phone.
MESSAGES: dict[str, tuple[str, str]] = {
    "not_an_image": (
        "This file is not a photo we can read. Please send a JPEG, PNG or WebP picture.",
        "无法读取此文件。请上传 JPEG、PNG 或 WebP 格式的照片。",
    ),
    "truncated": (
        "The photo is incomplete or damaged. Please take or choose it again.",
        "照片不完整或已损坏。请重新拍摄或选择照片。",
    ),
    "too_many_pixels": (
        "The photo is too large. Please send a smaller picture (a normal phone photo works).",
        "照片尺寸过大。请上传较小的照片（普通手机照片即可）。",
    ),
    "no_face": (
        "We could not find a face in the photo. Face the camera in good light and try again.",
        "照片中未检测到人脸。请在光线充足处正对镜头后重试。",
    ),
    "several_faces": (
        "We found more than one face. Make sure only you are in the picture.",
        "检测到多张人脸。请确保画面中只有您本人。",
    ),
    "face_too_small": (
        "Your face is too small in the photo. Move closer to the camera and try again.",
        "照片中的人脸太小。请靠近镜头后重试。",
    ),
    "throttled": (
        "Too many failed face checks. Please wait 15 minutes and try again.",
        "人脸验证失败次数过多。请等待 15 分钟后重试。",
    ),
    "no_template": (
        "No face is registered for this account yet. Add a photo on your account page first.",
        "此账户尚未登记人脸。请先在账户页面添加照片。",
    ),
    "challenge_expired": (
        "The face check timed out or was already used. Please start it again.",
        "人脸验证已超时或已被使用。请重新开始。",
    ),
    "challenge_failed": (
        "We could not confirm the requested movement with your face. Please try again.",
        "未能确认您按要求完成了动作。请重试。",
    ),
    "too_many_templates": (
        "This account already has the most face photos allowed. Delete them to start again.",
        "此账户的人脸照片已达上限。请删除后重新登记。",
    ),
    "bad_frames": (
        "The camera pictures did not arrive complete. Please try again.",
        "未完整收到摄像头画面。请重试。",
    ),
    "replayed": (
        "These camera pictures were already used in an earlier check. Please do the check live.",
        "这些画面已在之前的验证中使用过。请现场完成验证。",
    ),
    "fresh_face_needed": (
        "To change your face settings, first pass a face check with a face already registered.",
        "要更改人脸设置，请先使用已登记的人脸通过一次人脸验证。",
    ),
    "proofed_needed": (
        "This service needs a face registered in person at a counter. Please visit one once.",
        "此服务需要在柜台现场登记的人脸。请前往柜台登记一次。",
    ),
}


class FaceError(Refusal):
    """A refused face operation; ``error`` is one of :data:`MESSAGES`' keys, the
    description its English message."""

    def __init__(self, error: str) -> None:
        if error not in MESSAGES:
            raise ValueError(f"unknown face error code {error!r}")
        super().__init__(error, MESSAGES[error][0])

    @property
    def message_en(self) -> str:
        return MESSAGES[self.error][0]

    @property
    def message_zh(self) -> str:
        return MESSAGES[self.error][1]

    def __str__(self) -> str:
        return f"{self.error}: {self.message_en}"
