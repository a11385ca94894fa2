"""Face alignment for the face IQA metrics: detect, pick the central face, warp it onto the FFHQ 512×512 template.

The steps of facexlib's face restoration helper as pyiqa 0.1.16 runs them before its face checkpoints
(``align_crop_face=True``), written from their description:

1. :class:`metrics.deep.retinaface.RetinaFace` finds the faces (probability above 0.97) in the image at its own size;
2. faces whose eyes are less than 5 px apart (side or tiny faces) are dropped;
3. of the rest, the one whose box centre is nearest the image centre is kept (the first on a tie);
4. a similarity transform (rotation, uniform scale, translation) from its five landmarks to the five points of the
   FFHQ template (:data:`FFHQ_TEMPLATE_512`) is estimated robustly (least median of squares), and
5. the image (0…255) is warped by it onto 512×512 with bilinear interpolation; outside the image, the constant grey
   (R, G, B) = :data:`BORDER_RGB`.

Steps 4 and 5 use OpenCV (``cv2.estimateAffinePartial2D`` with ``cv2.LMEDS``, ``cv2.warpAffine``), on purpose: the
reference does, LMedS draws its random subsets from OpenCV's own fixed-seed generator, and ``warpAffine`` rounds
source coordinates to 1/32 px in fixed point; a hand-written estimate or ``grid_sample`` would move the crop by
fractions of a pixel and the scores by more than the equivalence tolerance. OpenCV is imported only here, when a
face is aligned.
"""

from __future__ import annotations

import numpy as np
import torch

from metrics.deep.retinaface import Faces, RetinaFace

#: facexlib's five landmarks of an FFHQ-aligned 512×512 face (x, y px): left eye, right eye, nose, mouth corners.
FFHQ_TEMPLATE_512 = ((192.98138, 239.94708), (318.90277, 240.1936), (256.63416, 314.01935),
                     (201.26117, 371.41043), (313.08905, 371.15118))
FACE_SIZE = 512
#: Border fill of the warp (R, G, B), 0…255.
BORDER_RGB = (132, 133, 135)
MIN_EYE_DISTANCE = 5.0
DETECTION_THRESHOLD = 0.97


class NoFaceError(ValueError):
    """An image in which the detector finds no face to align (pyiqa stops with an assertion there)."""


def central_face(faces: Faces, height: int, width: int) -> int | None:
    """Index of the face kept: eyes at least :data:`MIN_EYE_DISTANCE` apart, box centre nearest the image centre
    (the first on a tie); None when no face qualifies."""
    eyes = faces.landmarks[:, 0] - faces.landmarks[:, 1]
    candidates = torch.nonzero(eyes.norm(dim=1) >= MIN_EYE_DISTANCE).flatten()
    if candidates.numel() == 0:
        return None
    boxes = faces.boxes[candidates]
    centres = torch.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], dim=1).double()
    distance = (centres - torch.tensor([width / 2, height / 2], dtype=torch.float64, device=centres.device)).norm(dim=1)
    return int(candidates[int(distance.argmin())])


def similarity_to_template(landmarks: np.ndarray) -> np.ndarray:
    """The 2×3 similarity transform (float64) taking five landmarks (5×2 float32 px) onto the FFHQ template."""
    import cv2

    template = np.array(FFHQ_TEMPLATE_512, dtype=np.float64) * (FACE_SIZE / 512.0)
    matrix, _ = cv2.estimateAffinePartial2D(landmarks, template, method=cv2.LMEDS)
    if matrix is None:
        raise NoFaceError("the face's landmarks admit no similarity transform onto the template")
    return matrix


def warp_face(rgb: torch.Tensor, matrix: np.ndarray) -> torch.Tensor:
    """The 512×512 crop (3×512×512, 0…1, float32) of an RGB image (3×H×W, 0…1) under ``matrix``."""
    import cv2

    pixels = rgb.permute(1, 2, 0).float().cpu().numpy() * 255
    crop = cv2.warpAffine(pixels, matrix, (FACE_SIZE, FACE_SIZE), borderMode=cv2.BORDER_CONSTANT,
                          borderValue=BORDER_RGB)
    return torch.from_numpy(crop).permute(2, 0, 1).to(rgb.device) / 255.0


class FaceAligner(torch.nn.Module):
    """Detector + alignment: an RGB batch → the aligned 512×512 crops of each image's central face."""

    def __init__(self, detector: RetinaFace) -> None:
        super().__init__()
        self.detector = detector

    def locate(self, rgb: torch.Tensor) -> np.ndarray:
        """The five landmarks (5×2 float32 px) of the face kept in one RGB image (3×H×W); :class:`NoFaceError`
        when there is none."""
        faces = self.detector.detect(rgb, conf_threshold=DETECTION_THRESHOLD)
        index = central_face(faces, *rgb.shape[-2:]) if len(faces) else None
        if index is None:
            raise NoFaceError(f"no face detected in the {rgb.shape[-1]}×{rgb.shape[-2]} image")
        return faces.landmarks[index].cpu().numpy()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        crops = [warp_face(image, similarity_to_template(self.locate(image))) for image in images]
        return torch.stack(crops)
