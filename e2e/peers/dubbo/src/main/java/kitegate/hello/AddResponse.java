package kitegate.hello;

import java.io.Serializable;

public class AddResponse implements Serializable {
    private static final long serialVersionUID = 1L;

    private long sum;

    public AddResponse() {
    }

    public AddResponse(long sum) {
        this.sum = sum;
    }

    public long getSum() {
        return sum;
    }

    public void setSum(long sum) {
        this.sum = sum;
    }
}
