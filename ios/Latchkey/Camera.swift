// The camera while the scan screen asks for it: AVFoundation's back camera in 420f
// (bi-planar YUV, full range); plane 0 is the luma the app's scanFrame takes, with its row
// stride, copied once out of the camera's buffer. Frames that arrive while one is read are
// dropped (alwaysDiscardsLateVideoFrames). The light follows AppEffect.setTorch.
import AVFoundation
import SwiftUI

final class Camera: NSObject, AVCaptureVideoDataOutputSampleBufferDelegate, @unchecked Sendable {
    weak var app: LatchkeyApp?
    let session = AVCaptureSession()
    private let queue = DispatchQueue(label: "latchkey.camera")
    private var device: AVCaptureDevice?

    func open() {
        switch AVCaptureDevice.authorizationStatus(for: .video) {
        case .authorized: queue.async { self.start() }
        case .notDetermined:
            AVCaptureDevice.requestAccess(for: .video) { granted in
                if granted { self.queue.async { self.start() } } else { self.app?.send(event: .cameraUnavailable(denied: true)) }
            }
        default: app?.send(event: .cameraUnavailable(denied: true))
        }
    }

    func close() {
        queue.async { if self.session.isRunning { self.session.stopRunning() } }
    }

    func torch(_ on: Bool) {
        guard let device, device.hasTorch, (try? device.lockForConfiguration()) != nil else { return }
        device.torchMode = on ? .on : .off
        device.unlockForConfiguration()
    }

    private func start() {
        if session.inputs.isEmpty {
            guard let camera = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: .back),
                  let input = try? AVCaptureDeviceInput(device: camera), session.canAddInput(input)
            else {
                app?.send(event: .cameraUnavailable(denied: false))
                return
            }
            session.beginConfiguration()
            session.sessionPreset = .hd1280x720
            session.addInput(input)
            let output = AVCaptureVideoDataOutput()
            output.videoSettings = [kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_420YpCbCr8BiPlanarFullRange]
            output.alwaysDiscardsLateVideoFrames = true
            output.setSampleBufferDelegate(self, queue: queue)
            if session.canAddOutput(output) { session.addOutput(output) }
            session.commitConfiguration()
            device = camera
        }
        session.startRunning()
        app?.send(event: .cameraOpened(torch: device?.hasTorch ?? false))
    }

    func captureOutput(_ output: AVCaptureOutput, didOutput sample: CMSampleBuffer, from connection: AVCaptureConnection) {
        guard let app, let pixels = CMSampleBufferGetImageBuffer(sample) else { return }
        CVPixelBufferLockBaseAddress(pixels, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(pixels, .readOnly) }
        guard let base = CVPixelBufferGetBaseAddressOfPlane(pixels, 0) else { return }
        let width = CVPixelBufferGetWidthOfPlane(pixels, 0)
        let height = CVPixelBufferGetHeightOfPlane(pixels, 0)
        let stride = CVPixelBufferGetBytesPerRowOfPlane(pixels, 0)
        let luma = Data(bytes: base, count: stride * (height - 1) + width)
        app.scanFrame(luma: luma, width: UInt32(width), height: UInt32(height), rowStride: UInt32(stride))
    }
}

/// The camera's preview layer in SwiftUI.
struct CameraPreview: UIViewRepresentable {
    let camera: Camera

    func makeUIView(context: Context) -> PreviewView {
        let view = PreviewView()
        view.preview.session = camera.session
        view.preview.videoGravity = .resizeAspectFill
        return view
    }

    func updateUIView(_ view: PreviewView, context: Context) {}

    final class PreviewView: UIView {
        override class var layerClass: AnyClass { AVCaptureVideoPreviewLayer.self }
        var preview: AVCaptureVideoPreviewLayer { layer as! AVCaptureVideoPreviewLayer }
    }
}
